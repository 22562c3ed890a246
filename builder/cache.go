package builder

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"time"

	bolt "go.etcd.io/bbolt"
)

// bucketCache maps a step's cache key to the image it produced.
var bucketCache = []byte("builder.cache")

// cacheRecord is one cached step.
type cacheRecord struct {
	Image   string    `json:"image"`
	Parent  string    `json:"parent,omitempty"`
	Created time.Time `json:"created"`
}

// Cache is the build cache in the daemon's metadata database. It survives
// restarts; a record whose image is gone is a miss.
type Cache struct{ db *bolt.DB }

// NewCache uses db; the bucket is made on the first write.
func NewCache(db *bolt.DB) *Cache { return &Cache{db: db} }

// cacheKey hashes what decides a step's result: the parent image, the
// instruction after expansion (with the build args it sees) and, for
// COPY/ADD, the content of its sources.
func cacheKey(parent, instruction, content string) string {
	h := sha256.New()
	for _, s := range []string{"v1", parent, instruction, content} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

func (c *Cache) get(key string) (string, bool) {
	if c == nil || c.db == nil {
		return "", false
	}
	var rec cacheRecord
	found := false
	c.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCache)
		if b == nil {
			return nil
		}
		if v := b.Get([]byte(key)); v != nil && json.Unmarshal(v, &rec) == nil {
			found = true
		}
		return nil
	})
	return rec.Image, found
}

// put records a step.
func (c *Cache) put(key, parent, image string) error {
	if c == nil || c.db == nil {
		return nil
	}
	v, err := json.Marshal(cacheRecord{Image: image, Parent: parent, Created: time.Now().UTC()})
	if err != nil {
		return err
	}
	return c.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.CreateBucketIfNotExists(bucketCache)
		if err != nil {
			return err
		}
		return b.Put([]byte(key), v)
	})
}

// records lists every cache record by key.
func (c *Cache) records() (map[string]cacheRecord, error) {
	out := map[string]cacheRecord{}
	if c == nil || c.db == nil {
		return out, nil
	}
	err := c.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCache)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var rec cacheRecord
			if json.Unmarshal(v, &rec) == nil {
				out[string(k)] = rec
			}
			return nil
		})
	})
	return out, err
}

func (c *Cache) remove(keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	return c.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketCache)
		if b == nil {
			return nil
		}
		for _, k := range keys {
			if err := b.Delete([]byte(k)); err != nil {
				return err
			}
		}
		return nil
	})
}

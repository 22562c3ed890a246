package ipam

import (
	"encoding/binary"
	"fmt"
	"net/netip"

	"github.com/containerd/errdefs"
	bolt "go.etcd.io/bbolt"
)

// bucketName is the top-level bbolt bucket; one nested bucket per network holds
// the pool ("subnet", "gateway", "next") and leases ("lease/<endpointID>" → addr).
var bucketName = []byte("network.ipam")

var (
	keySubnet  = []byte("subnet")
	keyGateway = []byte("gateway")
	keyNext    = []byte("next")
	leasePfx   = "lease/"
)

// Allocator hands out addresses per network. All state lives in the database,
// so an Allocator is safe for concurrent use (bbolt serialises writers).
type Allocator struct {
	db *bolt.DB
}

// New returns an Allocator over db, creating its bucket if needed.
func New(db *bolt.DB) (*Allocator, error) {
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketName)
		return err
	}); err != nil {
		return nil, fmt.Errorf("ipam: %w", err)
	}
	return &Allocator{db: db}, nil
}

// Pool is one network's address space.
type Pool struct {
	Subnet  netip.Prefix
	Gateway netip.Addr
}

// ValidatePool checks that subnet is a canonical IPv4 prefix with room for
// a gateway and at least one endpoint and that gateway (if valid) lies inside
// it and is usable.
func ValidatePool(subnet netip.Prefix, gateway netip.Addr) error {
	if !subnet.IsValid() || !subnet.Addr().Is4() {
		return fmt.Errorf("invalid subnet %s: only IPv4 prefixes are supported: %w", subnet, errdefs.ErrInvalidArgument)
	}
	if subnet.Masked() != subnet {
		return fmt.Errorf("invalid subnet %s: host bits set (did you mean %s?): %w", subnet, subnet.Masked(), errdefs.ErrInvalidArgument)
	}
	if subnet.Bits() > 30 {
		return fmt.Errorf("invalid subnet %s: too small, need at least a /30: %w", subnet, errdefs.ErrInvalidArgument)
	}
	if gateway.IsValid() && !usable(subnet, gateway) {
		return fmt.Errorf("invalid gateway %s: not a usable address of %s: %w", gateway, subnet, errdefs.ErrInvalidArgument)
	}
	return nil
}

// DefaultGateway is the first host address of subnet, as Docker picks it.
func DefaultGateway(subnet netip.Prefix) netip.Addr { return subnet.Masked().Addr().Next() }

// usable reports whether a is a host address of subnet (not network, not broadcast).
func usable(subnet netip.Prefix, a netip.Addr) bool {
	if !a.Is4() || !subnet.Contains(a) {
		return false
	}
	return a != subnet.Masked().Addr() && a != broadcast(subnet)
}

func broadcast(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().As4()
	v := binary.BigEndian.Uint32(b[:]) | (1<<(32-p.Bits()) - 1)
	binary.BigEndian.PutUint32(b[:], v)
	return netip.AddrFrom4(b)
}

// AddPool registers a network's pool. Registering the same pool again is a no-op;
// a different pool under the same ID is a conflict.
func (a *Allocator) AddPool(networkID string, p Pool) error {
	if !p.Gateway.IsValid() {
		p.Gateway = DefaultGateway(p.Subnet)
	}
	if err := ValidatePool(p.Subnet, p.Gateway); err != nil {
		return err
	}
	return a.db.Update(func(tx *bolt.Tx) error {
		b, err := tx.Bucket(bucketName).CreateBucketIfNotExists([]byte(networkID))
		if err != nil {
			return err
		}
		if old := b.Get(keySubnet); old != nil {
			if string(old) != p.Subnet.String() {
				return fmt.Errorf("ipam pool %s: already registered with %s: %w", networkID, old, errdefs.ErrConflict)
			}
			return nil
		}
		if err := b.Put(keySubnet, []byte(p.Subnet.String())); err != nil {
			return err
		}
		return b.Put(keyGateway, []byte(p.Gateway.String()))
	})
}

// RemovePool forgets a network and all its leases.
func (a *Allocator) RemovePool(networkID string) error {
	return a.db.Update(func(tx *bolt.Tx) error {
		err := tx.Bucket(bucketName).DeleteBucket([]byte(networkID))
		if err == bolt.ErrBucketNotFound {
			return nil
		}
		return err
	})
}

func loadPool(b *bolt.Bucket, networkID string) (Pool, error) {
	subnet, err := netip.ParsePrefix(string(b.Get(keySubnet)))
	if err != nil {
		return Pool{}, fmt.Errorf("ipam pool %s: corrupt subnet: %w", networkID, err)
	}
	gw, err := netip.ParseAddr(string(b.Get(keyGateway)))
	if err != nil {
		return Pool{}, fmt.Errorf("ipam pool %s: corrupt gateway: %w", networkID, err)
	}
	return Pool{Subnet: subnet, Gateway: gw}, nil
}

// Allocate leases an address of networkID to endpointID. A valid want asks for
// that exact address (docker run --ip); otherwise the next free address after
// the last one handed out is used, so that a just-released address is not
// reused at once. Allocating again for the same endpoint returns its lease.
func (a *Allocator) Allocate(networkID, endpointID string, want netip.Addr) (netip.Addr, error) {
	var got netip.Addr
	err := a.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketName).Bucket([]byte(networkID))
		if b == nil {
			return fmt.Errorf("ipam pool %s: %w", networkID, errdefs.ErrNotFound)
		}
		pool, err := loadPool(b, networkID)
		if err != nil {
			return err
		}
		leaseKey := []byte(leasePfx + endpointID)
		if v := b.Get(leaseKey); v != nil {
			got, err = netip.ParseAddr(string(v))
			if err == nil && want.IsValid() && got != want {
				return fmt.Errorf("endpoint %s already has address %s: %w", endpointID, got, errdefs.ErrConflict)
			}
			return err
		}
		used := map[netip.Addr]bool{pool.Gateway: true}
		c := b.Cursor()
		for k, v := c.Seek([]byte(leasePfx)); k != nil && len(k) >= len(leasePfx) && string(k[:len(leasePfx)]) == leasePfx; k, v = c.Next() {
			if ip, err := netip.ParseAddr(string(v)); err == nil {
				used[ip] = true
			}
		}
		if want.IsValid() {
			if !usable(pool.Subnet, want) {
				return fmt.Errorf("address %s is not a usable address of subnet %s: %w", want, pool.Subnet, errdefs.ErrInvalidArgument)
			}
			if used[want] {
				return fmt.Errorf("address %s already in use: %w", want, errdefs.ErrConflict)
			}
			got = want
		} else {
			start := pool.Subnet.Masked().Addr().Next()
			if n, err := netip.ParseAddr(string(b.Get(keyNext))); err == nil && usable(pool.Subnet, n) {
				start = n
			}
			got, err = nextFree(pool.Subnet, start, used)
			if err != nil {
				return err
			}
			if err := b.Put(keyNext, []byte(got.Next().String())); err != nil {
				return err
			}
		}
		return b.Put(leaseKey, []byte(got.String()))
	})
	return got, err
}

// nextFree walks the subnet once, starting at start and wrapping around.
func nextFree(subnet netip.Prefix, start netip.Addr, used map[netip.Addr]bool) (netip.Addr, error) {
	size := uint64(1) << (32 - subnet.Bits())
	ip := start
	for i := uint64(0); i < size; i++ {
		if !subnet.Contains(ip) {
			ip = subnet.Masked().Addr()
		}
		if usable(subnet, ip) && !used[ip] {
			return ip, nil
		}
		ip = ip.Next()
	}
	return netip.Addr{}, fmt.Errorf("no available IPv4 addresses in subnet %s: %w", subnet, errdefs.ErrUnavailable)
}

// Release drops endpointID's lease on networkID; releasing twice is fine.
func (a *Allocator) Release(networkID, endpointID string) error {
	return a.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketName).Bucket([]byte(networkID))
		if b == nil {
			return nil
		}
		return b.Delete([]byte(leasePfx + endpointID))
	})
}

// Leases returns endpoint ID → address for networkID.
func (a *Allocator) Leases(networkID string) (map[string]netip.Addr, error) {
	out := map[string]netip.Addr{}
	err := a.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketName).Bucket([]byte(networkID))
		if b == nil {
			return fmt.Errorf("ipam pool %s: %w", networkID, errdefs.ErrNotFound)
		}
		c := b.Cursor()
		for k, v := c.Seek([]byte(leasePfx)); k != nil && len(k) >= len(leasePfx) && string(k[:len(leasePfx)]) == leasePfx; k, v = c.Next() {
			if ip, err := netip.ParseAddr(string(v)); err == nil {
				out[string(k[len(leasePfx):])] = ip
			}
		}
		return nil
	})
	return out, err
}

// Pool returns networkID's registered pool.
func (a *Allocator) Pool(networkID string) (Pool, error) {
	var p Pool
	err := a.db.View(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketName).Bucket([]byte(networkID))
		if b == nil {
			return fmt.Errorf("ipam pool %s: %w", networkID, errdefs.ErrNotFound)
		}
		var err error
		p, err = loadPool(b, networkID)
		return err
	})
	return p, err
}

// PickSubnet returns the first candidate that overlaps none of avoid.
func PickSubnet(candidates, avoid []netip.Prefix) (netip.Prefix, error) {
next:
	for _, c := range candidates {
		for _, a := range avoid {
			if c.Overlaps(a) {
				continue next
			}
		}
		return c, nil
	}
	return netip.Prefix{}, fmt.Errorf("no free subnet among %d candidates: %w", len(candidates), errdefs.ErrUnavailable)
}

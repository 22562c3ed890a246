package image

import (
	"archive/tar"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"sort"
	"time"

	"github.com/distribution/reference"
	digest "github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Save is `docker save`: it writes one tar that both `docker load` (via
// manifest.json) and OCI layout readers (via index.json, oci-layout and
// blobs/) accept, as docker ≥ 25 does. A tagged reference saves that tag, a
// bare repository name every tag of it, and an ID the image untagged.
func (s *Store) Save(ctx context.Context, refs []string, w io.Writer) error {
	type saved struct {
		e    *entry
		tags []reference.Named
	}
	// Blobs are opened while layer collection is held off; an open file
	// stays readable even if rmi unlinks it meanwhile, so a slow reader of
	// the archive does not block rmi and prune.
	s.layerMu.RLock()
	locked := true
	unlock := func() {
		if locked {
			locked = false
			s.layerMu.RUnlock()
		}
	}
	defer unlock()
	var order []digest.Digest
	byID := map[digest.Digest]*saved{}
	add := func(e *entry, tag reference.NamedTagged) {
		sv := byID[e.rec.ID]
		if sv == nil {
			sv = &saved{e: e}
			byID[e.rec.ID] = sv
			order = append(order, e.rec.ID)
		}
		if tag == nil {
			return
		}
		for _, t := range sv.tags {
			if t.String() == tag.String() {
				return
			}
		}
		sv.tags = append(sv.tags, tag)
	}
	s.mu.RLock()
	for _, r := range refs {
		// A bare repository name saves every tag of it, as docker does.
		if named, err := reference.ParseNormalizedNamed(r); err == nil && reference.IsNameOnly(named) {
			if tags := s.tagsOfRepository(named.Name()); len(tags) > 0 {
				for _, t := range tags {
					add(s.images[s.tags[t.String()].ID], t)
				}
				continue
			}
		}
		e, ref, err := s.resolve(r)
		if err != nil {
			s.mu.RUnlock()
			return err
		}
		tagged, _ := ref.(reference.NamedTagged)
		add(e, tagged)
	}
	s.mu.RUnlock()
	aw := &archiveWriter{tw: tar.NewWriter(w), files: map[digest.Digest]*os.File{}, written: map[digest.Digest]bool{}}
	defer aw.closeFiles()
	for _, id := range order {
		for _, d := range append([]digest.Digest{id}, blobsOf(byID[id].e)...) {
			if aw.files[d] != nil {
				continue
			}
			f, err := s.blobs.open(d)
			if err != nil {
				return fmt.Errorf("save: %w", err)
			}
			aw.files[d] = f
		}
	}
	unlock()

	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := aw.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, ModTime: epoch}); err != nil {
			return err
		}
	}
	var manifestJSON []dockerManifestEntry
	index := ocispec.Index{Versioned: specsVersioned(), MediaType: ocispec.MediaTypeImageIndex}
	repositories := map[string]map[string]string{}
	for _, id := range order {
		if err := ctx.Err(); err != nil {
			return err
		}
		sv := byID[id]
		cfgSize, err := aw.blob(id)
		if err != nil {
			return err
		}
		m := ocispec.Manifest{
			Versioned: specsVersioned(),
			MediaType: ocispec.MediaTypeImageManifest,
			Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: id, Size: cfgSize},
			Layers:    []ocispec.Descriptor{},
		}
		entry := dockerManifestEntry{Config: "blobs/sha256/" + id.Encoded(), RepoTags: []string{}, Layers: []string{}}
		for _, l := range sv.e.rec.Layers {
			size, err := aw.blob(l.Blob)
			if err != nil {
				return err
			}
			m.Layers = append(m.Layers, ocispec.Descriptor{MediaType: l.MediaType, Digest: l.Blob, Size: size})
			entry.Layers = append(entry.Layers, "blobs/sha256/"+l.Blob.Encoded())
		}
		mdata, err := json.Marshal(m)
		if err != nil {
			return err
		}
		md := digest.FromBytes(mdata)
		if err := aw.file("blobs/sha256/"+md.Encoded(), mdata); err != nil {
			return err
		}
		aw.written[md] = true
		desc := ocispec.Descriptor{MediaType: ocispec.MediaTypeImageManifest, Digest: md, Size: int64(len(mdata))}
		if len(sv.tags) == 0 {
			index.Manifests = append(index.Manifests, desc)
		}
		for _, t := range sv.tags {
			d := desc
			d.Annotations = map[string]string{
				annotationImageName: t.String(),
				annotationRefName:   t.(reference.Tagged).Tag(),
			}
			index.Manifests = append(index.Manifests, d)
			entry.RepoTags = append(entry.RepoTags, FamiliarString(t))
			repo := reference.FamiliarName(t)
			if repositories[repo] == nil {
				repositories[repo] = map[string]string{}
			}
			repositories[repo][t.(reference.Tagged).Tag()] = id.Encoded()
		}
		manifestJSON = append(manifestJSON, entry)
	}
	for _, f := range []struct {
		name string
		v    any
	}{
		{ocispec.ImageLayoutFile, ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion}},
		{"index.json", index},
		{"manifest.json", manifestJSON},
		{"repositories", repositories},
	} {
		data, err := json.Marshal(f.v)
		if err != nil {
			return err
		}
		if err := aw.file(f.name, data); err != nil {
			return err
		}
	}
	return aw.tw.Close()
}

var epoch = time.Unix(0, 0).UTC()

func specsVersioned() specs.Versioned { return specs.Versioned{SchemaVersion: 2} }

// archiveWriter writes each blob once, from files opened beforehand.
type archiveWriter struct {
	tw      *tar.Writer
	files   map[digest.Digest]*os.File
	written map[digest.Digest]bool
}

func (a *archiveWriter) closeFiles() {
	for _, f := range a.files {
		f.Close()
	}
}

func (a *archiveWriter) file(name string, data []byte) error {
	if err := a.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(data)), ModTime: epoch}); err != nil {
		return err
	}
	_, err := a.tw.Write(data)
	return err
}

func (a *archiveWriter) blob(d digest.Digest) (int64, error) {
	f := a.files[d]
	fi, err := f.Stat()
	if err != nil {
		return 0, err
	}
	if a.written[d] {
		return fi.Size(), nil
	}
	a.written[d] = true
	if err := a.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "blobs/sha256/" + d.Encoded(), Mode: 0o644, Size: fi.Size(), ModTime: epoch}); err != nil {
		return 0, err
	}
	_, err = io.Copy(a.tw, f)
	return fi.Size(), err
}

// tagsOfRepository lists the tags of repository name (normalised), sorted.
// Callers hold mu.
func (s *Store) tagsOfRepository(name string) []reference.NamedTagged {
	var keys []string
	for k := range s.tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out []reference.NamedTagged
	for _, k := range keys {
		n, err := reference.ParseNormalizedNamed(k)
		if err != nil || n.Name() != name || s.images[s.tags[k].ID] == nil {
			continue
		}
		if t, ok := n.(reference.NamedTagged); ok {
			out = append(out, t)
		}
	}
	return out
}

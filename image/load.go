package image

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	dockerspec "github.com/moby/docker-image-spec/specs-go/v1"
	"github.com/moby/go-archive/compression"
	digest "github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
)

// Annotations docker and containerd put on index.json entries.
const (
	annotationImageName = "io.containerd.image.name"
	annotationRefName   = ocispec.AnnotationRefName
	// maxMetadataSize bounds the JSON files we read whole.
	maxMetadataSize = 16 << 20
)

// Docker (schema 2) media types, accepted alongside the OCI ones.
const (
	mediaTypeDockerManifest     = "application/vnd.docker.distribution.manifest.v2+json"
	mediaTypeDockerManifestList = "application/vnd.docker.distribution.manifest.list.v2+json"
)

// loadItem is one image found in an archive: paths inside it, and what the
// archive claims about their digests (checked when not empty).
type loadItem struct {
	config       string
	configDigest digest.Digest
	layers       []string
	layerDigests []digest.Digest
	layerTypes   []string
	tags         []reference.Named
}

// Load is `docker load`: r is a `docker save` archive (manifest.json), an OCI
// image layout (index.json, oci-layout, blobs/), or both, optionally
// compressed. It returns docker's "Loaded image: …" / "Loaded image ID: …"
// lines; progress gets a line per layer.
func (s *Store) Load(ctx context.Context, r io.Reader, progress func(msg string)) ([]string, error) {
	if progress == nil {
		progress = func(string) {}
	}
	rc, err := compression.DecompressStream(r)
	if err != nil {
		return nil, fmt.Errorf("load: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	defer rc.Close()
	dir, err := os.MkdirTemp(s.blobs.ingest, "load-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	if err := extractArchive(ctx, rc, root); err != nil {
		return nil, err
	}

	var items []loadItem
	if data, err := readSmall(root, "manifest.json"); err == nil {
		if items, err = parseDockerManifest(data); err != nil {
			return nil, err
		}
	} else if data, err := readSmall(root, "index.json"); err == nil {
		if items, err = ociItems(root, data); err != nil {
			return nil, err
		}
	} else {
		return nil, errdefs.ErrInvalidArgument.WithMessage("invalid archive: neither manifest.json (docker save) nor index.json (OCI layout) found")
	}

	var lines []string
	for _, it := range items {
		img, err := s.loadOne(ctx, root, it, progress)
		if err != nil {
			return lines, err
		}
		if len(it.tags) == 0 {
			lines = append(lines, "Loaded image ID: "+string(img.ID))
		}
		for _, t := range it.tags {
			lines = append(lines, "Loaded image: "+FamiliarString(t))
		}
	}
	return lines, nil
}

func (s *Store) loadOne(ctx context.Context, root *os.Root, it loadItem, progress func(string)) (*Image, error) {
	raw, err := readSmall(root, it.config)
	if err != nil {
		return nil, fmt.Errorf("image config %s: %v: %w", it.config, err, errdefs.ErrInvalidArgument)
	}
	id := digest.FromBytes(raw)
	if it.configDigest != "" && it.configDigest != id {
		return nil, fmt.Errorf("image config %s: digest is %s: %w", it.configDigest, id, errdefs.ErrInvalidArgument)
	}
	var cfg dockerspec.DockerOCIImage
	if err := json.Unmarshal(raw, &cfg); err != nil {
		return nil, fmt.Errorf("image config %s: %v: %w", it.config, err, errdefs.ErrInvalidArgument)
	}
	diffIDs := cfg.RootFS.DiffIDs
	if len(diffIDs) != len(it.layers) {
		return nil, fmt.Errorf("image %s: config lists %d layers, archive has %d: %w", id, len(diffIDs), len(it.layers), errdefs.ErrInvalidArgument)
	}
	for _, d := range diffIDs {
		if d.Validate() != nil {
			return nil, fmt.Errorf("image %s: bad diff ID %q: %w", id, d, errdefs.ErrInvalidArgument)
		}
	}

	s.layerMu.RLock()
	defer s.layerMu.RUnlock()
	rec := imageRecord{Created: time.Now().UTC()}
	if cfg.Created != nil {
		rec.Created = cfg.Created.UTC()
	}
	var parent digest.Digest
	for i, lp := range it.layers {
		f, err := root.Open(lp)
		if err != nil {
			return nil, fmt.Errorf("layer %s: %v: %w", lp, err, errdefs.ErrInvalidArgument)
		}
		var expected digest.Digest
		if i < len(it.layerDigests) {
			expected = it.layerDigests[i]
		}
		blob, _, err := s.blobs.write(ctx, f, expected)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("layer %s: %w", lp, err)
		}
		mediaType := ""
		if i < len(it.layerTypes) {
			mediaType = it.layerTypes[i]
		}
		if mediaType == "" || !strings.Contains(mediaType, "layer") {
			mediaType = s.sniffMediaType(blob)
		}
		chain := identity.ChainID(diffIDs[:i+1])
		size, err := s.ensureLayer(ctx, parent, chain, diffIDs[i], blob)
		if err != nil {
			return nil, err
		}
		progress(fmt.Sprintf("Loading layer %s", shortID(diffIDs[i])))
		rec.Layers = append(rec.Layers, layerRecord{Blob: blob, MediaType: mediaType, DiffID: diffIDs[i], Size: size})
		parent = chain
	}
	// Keep the config bytes as they came: they are the image ID.
	if _, _, err := s.blobs.write(ctx, bytes.NewReader(raw), id); err != nil {
		return nil, err
	}
	rec.ID = id
	return s.addImage(rec, cfg, it.tags)
}

func (s *Store) sniffMediaType(blob digest.Digest) string {
	f, err := s.blobs.open(blob)
	if err != nil {
		return ocispec.MediaTypeImageLayer
	}
	defer f.Close()
	head := make([]byte, 10)
	n, _ := io.ReadFull(f, head)
	return mediaTypeOf(head[:n])
}

// readSmall reads a metadata file from the archive, refusing huge ones.
func readSmall(root *os.Root, name string) ([]byte, error) {
	f, err := root.Open(name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxMetadataSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxMetadataSize {
		return nil, fmt.Errorf("%s is larger than %d bytes: %w", name, maxMetadataSize, errdefs.ErrInvalidArgument)
	}
	return data, nil
}

// extractArchive unpacks the outer archive into root: directories, regular
// files, relative symlinks and hard links (legacy docker save archives link
// shared layers). os.Root refuses anything that would leave the directory.
func extractArchive(ctx context.Context, r io.Reader, root *os.Root) error {
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("read archive: %v: %w", err, errdefs.ErrInvalidArgument)
		}
		name := path.Clean(strings.TrimLeft(hdr.Name, "/"))
		if name == "." {
			continue
		}
		if !filepath.IsLocal(name) {
			return fmt.Errorf("archive entry %q leaves the archive: %w", hdr.Name, errdefs.ErrInvalidArgument)
		}
		bad := func(err error) error {
			return fmt.Errorf("archive entry %q: %v: %w", hdr.Name, err, errdefs.ErrInvalidArgument)
		}
		if dir := path.Dir(name); dir != "." {
			if err := root.MkdirAll(dir, 0o700); err != nil {
				return bad(err)
			}
		}
		switch hdr.Typeflag {
		case tar.TypeDir:
			if err := root.MkdirAll(name, 0o700); err != nil {
				return bad(err)
			}
		case tar.TypeReg:
			f, err := root.OpenFile(name, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
			if err != nil {
				return bad(err)
			}
			_, err = io.Copy(f, readerCtx{ctx, tr})
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("archive entry %q: %w", hdr.Name, err)
			}
		case tar.TypeSymlink:
			if path.IsAbs(hdr.Linkname) {
				return bad(errors.New("absolute symlink"))
			}
			if err := root.Symlink(hdr.Linkname, name); err != nil && !errors.Is(err, fs.ErrExist) {
				return bad(err)
			}
		case tar.TypeLink:
			target := path.Clean(strings.TrimLeft(hdr.Linkname, "/"))
			if !filepath.IsLocal(target) {
				return bad(errors.New("hard link leaves the archive"))
			}
			if err := root.Link(target, name); err != nil && !errors.Is(err, fs.ErrExist) {
				return bad(err)
			}
		default:
			// Devices, fifos and the like have no business in an image archive.
		}
	}
}

// dockerManifestEntry is one element of a `docker save` manifest.json.
type dockerManifestEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

// parseDockerManifest validates a `docker save` manifest.json.
func parseDockerManifest(data []byte) ([]loadItem, error) {
	var entries []dockerManifestEntry
	if err := json.Unmarshal(data, &entries); err != nil {
		return nil, fmt.Errorf("manifest.json: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	items := make([]loadItem, 0, len(entries))
	for _, e := range entries {
		it := loadItem{}
		var err error
		if it.config, err = archivePath(e.Config); err != nil {
			return nil, err
		}
		it.configDigest = digestFromPath(it.config)
		for _, l := range e.Layers {
			p, err := archivePath(l)
			if err != nil {
				return nil, err
			}
			it.layers = append(it.layers, p)
			it.layerDigests = append(it.layerDigests, digestFromPath(p))
		}
		for _, t := range e.RepoTags {
			named, err := parseTag(t)
			if err != nil {
				return nil, fmt.Errorf("manifest.json: tag %q: %w", t, err)
			}
			it.tags = append(it.tags, named)
		}
		items = append(items, it)
	}
	return items, nil
}

func archivePath(p string) (string, error) {
	clean := path.Clean(strings.TrimLeft(p, "/"))
	if p == "" || clean == "." || !filepath.IsLocal(clean) {
		return "", fmt.Errorf("invalid path %q in archive manifest: %w", p, errdefs.ErrInvalidArgument)
	}
	return clean, nil
}

// digestFromPath recognises blobs/<alg>/<hex> paths, whose content must hash
// to their name; other paths (legacy <id>/layer.tar) claim nothing.
func digestFromPath(p string) digest.Digest {
	parts := strings.Split(p, "/")
	if len(parts) != 3 || parts[0] != "blobs" {
		return ""
	}
	d := digest.NewDigestFromEncoded(digest.Algorithm(parts[1]), parts[2])
	if d.Validate() != nil {
		return ""
	}
	return d
}

func blobPath(d digest.Digest) (string, error) {
	if err := d.Validate(); err != nil {
		return "", fmt.Errorf("digest %q: %v: %w", d, err, errdefs.ErrInvalidArgument)
	}
	return path.Join("blobs", string(d.Algorithm()), d.Encoded()), nil
}

// parseOCIIndex validates an OCI image index.
func parseOCIIndex(data []byte) (ocispec.Index, error) {
	var idx ocispec.Index
	if err := json.Unmarshal(data, &idx); err != nil {
		return idx, fmt.Errorf("index: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if idx.SchemaVersion != 2 {
		return idx, fmt.Errorf("index: schema version %d: %w", idx.SchemaVersion, errdefs.ErrInvalidArgument)
	}
	for _, m := range idx.Manifests {
		if err := m.Digest.Validate(); err != nil {
			return idx, fmt.Errorf("index: manifest digest %q: %w", m.Digest, errdefs.ErrInvalidArgument)
		}
	}
	return idx, nil
}

// parseOCIManifest validates an OCI (or docker schema 2) image manifest.
func parseOCIManifest(data []byte) (ocispec.Manifest, error) {
	var m ocispec.Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		return m, fmt.Errorf("manifest: %v: %w", err, errdefs.ErrInvalidArgument)
	}
	if m.SchemaVersion != 2 {
		return m, fmt.Errorf("manifest: schema version %d: %w", m.SchemaVersion, errdefs.ErrInvalidArgument)
	}
	if err := m.Config.Digest.Validate(); err != nil {
		return m, fmt.Errorf("manifest: config digest %q: %w", m.Config.Digest, errdefs.ErrInvalidArgument)
	}
	for _, l := range m.Layers {
		if err := l.Digest.Validate(); err != nil {
			return m, fmt.Errorf("manifest: layer digest %q: %w", l.Digest, errdefs.ErrInvalidArgument)
		}
	}
	return m, nil
}

// readBlob reads a metadata blob of the layout and checks its digest.
func readBlob(root *os.Root, d digest.Digest) ([]byte, error) {
	p, err := blobPath(d)
	if err != nil {
		return nil, err
	}
	data, err := readSmall(root, p)
	if err != nil {
		return nil, fmt.Errorf("blob %s: %v: %w", d, err, errdefs.ErrInvalidArgument)
	}
	if got := d.Algorithm().FromBytes(data); got != d {
		return nil, fmt.Errorf("blob %s: content hashes to %s: %w", d, got, errdefs.ErrInvalidArgument)
	}
	return data, nil
}

// ociItems walks an OCI layout's index.json to the image manifests for this
// platform and names them from their annotations.
func ociItems(root *os.Root, indexJSON []byte) ([]loadItem, error) {
	idx, err := parseOCIIndex(indexJSON)
	if err != nil {
		return nil, err
	}
	var items []loadItem
	byManifest := map[digest.Digest]int{}
	for _, desc := range idx.Manifests {
		md, err := resolveManifest(root, desc, 0)
		if err != nil {
			return nil, err
		}
		if md.Digest == "" {
			continue // nothing for this platform
		}
		tag := descriptorName(desc)
		if i, ok := byManifest[md.Digest]; ok {
			if tag != nil {
				items[i].tags = append(items[i].tags, tag)
			}
			continue
		}
		data, err := readBlob(root, md.Digest)
		if err != nil {
			return nil, err
		}
		m, err := parseOCIManifest(data)
		if err != nil {
			return nil, err
		}
		it := loadItem{configDigest: m.Config.Digest}
		if it.config, err = blobPath(m.Config.Digest); err != nil {
			return nil, err
		}
		for _, l := range m.Layers {
			p, err := blobPath(l.Digest)
			if err != nil {
				return nil, err
			}
			it.layers = append(it.layers, p)
			it.layerDigests = append(it.layerDigests, l.Digest)
			it.layerTypes = append(it.layerTypes, l.MediaType)
		}
		if tag != nil {
			it.tags = append(it.tags, tag)
		}
		byManifest[md.Digest] = len(items)
		items = append(items, it)
	}
	return items, nil
}

// resolveManifest follows nested indexes to the manifest for linux/GOARCH;
// an empty descriptor means none matched.
func resolveManifest(root *os.Root, desc ocispec.Descriptor, depth int) (ocispec.Descriptor, error) {
	switch desc.MediaType {
	case ocispec.MediaTypeImageIndex, mediaTypeDockerManifestList:
	default:
		return desc, nil
	}
	if depth > 4 {
		return ocispec.Descriptor{}, fmt.Errorf("index nesting too deep: %w", errdefs.ErrInvalidArgument)
	}
	data, err := readBlob(root, desc.Digest)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	idx, err := parseOCIIndex(data)
	if err != nil {
		return ocispec.Descriptor{}, err
	}
	var candidates []ocispec.Descriptor
	for _, m := range idx.Manifests {
		if m.Annotations["vnd.docker.reference.type"] == "attestation-manifest" {
			continue
		}
		if m.Platform == nil || (m.Platform.OS == "linux" && m.Platform.Architecture == runtime.GOARCH) {
			candidates = append(candidates, m)
		}
	}
	if len(candidates) == 0 {
		return ocispec.Descriptor{}, nil
	}
	return resolveManifest(root, candidates[0], depth+1)
}

// descriptorName is the reference an index entry is tagged with, if any:
// containerd's full name annotation, else an OCI ref.name that is a full
// reference (a bare tag names nothing we could tag).
func descriptorName(desc ocispec.Descriptor) reference.Named {
	for _, key := range []string{annotationImageName, annotationRefName} {
		v := desc.Annotations[key]
		if v == "" {
			continue
		}
		if key == annotationRefName && !strings.ContainsAny(v, "/:") {
			continue
		}
		if named, err := parseTag(v); err == nil {
			return named
		}
	}
	return nil
}

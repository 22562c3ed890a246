package image

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"

	"github.com/containerd/errdefs"
	"github.com/klauspost/compress/gzip"
	"github.com/moby/go-archive/compression"
	digest "github.com/opencontainers/go-digest"
	"github.com/opencontainers/image-spec/identity"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"wharf.io/wharf/image/layer"
	"wharf.io/wharf/snapshot"
)

// extractPrefix names the temporary active snapshots layers are unpacked in.
const extractPrefix = "extract-"

// ensureLayer makes sure committed snapshot chainID exists, unpacking blob
// on top of parent if not, and returns the layer's unpacked size. The
// uncompressed content must hash to diffID. Callers hold layerMu shared.
func (s *Store) ensureLayer(ctx context.Context, parent, chainID, diffID, blob digest.Digest) (int64, error) {
	if info, err := s.sn.Stat(ctx, chainID.String()); err == nil && info.Kind == snapshot.KindCommitted {
		// The layer exists; the blob must still be the content it claims to
		// be, or a save would hand out a wrong blob.
		if err := s.verifyDiffID(ctx, blob, diffID); err != nil {
			return 0, err
		}
		return s.knownLayerSize(ctx, chainID)
	}
	return s.makeLayer(ctx, parent, chainID, func(upper string) (int64, error) {
		return s.extractLayer(ctx, upper, blob, diffID)
	})
}

// makeLayer prepares a snapshot for chainID on parent, lets fill put the
// layer's files into its upper directory, and commits it.
func (s *Store) makeLayer(ctx context.Context, parent, chainID digest.Digest, fill func(upper string) (int64, error)) (int64, error) {
	var rnd [6]byte
	rand.Read(rnd[:])
	key := extractPrefix + hex.EncodeToString(rnd[:]) + "-" + chainID.Encoded()
	mounts, err := s.sn.Prepare(ctx, key, parent.String())
	if err != nil {
		return 0, fmt.Errorf("prepare layer %s: %w", chainID, err)
	}
	committed := false
	defer func() {
		if !committed {
			if err := s.sn.Remove(context.WithoutCancel(ctx), key); err != nil && !errdefs.IsNotFound(err) {
				s.logger.Warn("remove extraction snapshot", "key", key, "err", err)
			}
		}
	}()
	upper, err := snapshot.UpperDir(mounts)
	if err != nil {
		return 0, err
	}
	size, err := fill(upper)
	if err != nil {
		return 0, err
	}
	if err := s.sn.Commit(ctx, chainID.String(), key); err != nil {
		if errdefs.IsAlreadyExists(err) {
			// Another import of the same layer won the race; use theirs.
			return size, nil
		}
		return 0, fmt.Errorf("commit layer %s: %w", chainID, err)
	}
	committed = true
	return size, nil
}

// extractLayer unpacks blob into dir, checking that its uncompressed
// content hashes to diffID, and returns the unpacked size.
func (s *Store) extractLayer(ctx context.Context, dir string, blob, diffID digest.Digest) (int64, error) {
	f, err := s.blobs.open(blob)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	rc, err := decompress(f)
	if err != nil {
		return 0, fmt.Errorf("layer %s: %v: %w", blob, err, errdefs.ErrInvalidArgument)
	}
	defer rc.Close()
	dg := digest.SHA256.Digester()
	tee := readAhead(io.TeeReader(rc, dg.Hash()))
	defer tee.Close()
	size, err := layer.Apply(ctx, dir, tee, s.format)
	if err != nil {
		return 0, fmt.Errorf("layer %s: %w", diffID, err)
	}
	// The tar reader stops at the end-of-archive marker; the rest (padding)
	// still counts for the diff ID.
	if _, err := io.Copy(io.Discard, tee); err != nil {
		return 0, fmt.Errorf("layer %s: %w", diffID, err)
	}
	if got := dg.Digest(); got != diffID {
		return 0, fmt.Errorf("layer diff ID mismatch: config says %s, content is %s: %w", diffID, got, errdefs.ErrInvalidArgument)
	}
	return size, nil
}

// verifyDiffID checks that blob uncompresses to diffID, unless an image
// already records that pairing.
func (s *Store) verifyDiffID(ctx context.Context, blob, diffID digest.Digest) error {
	s.mu.RLock()
	for _, e := range s.images {
		for _, l := range e.rec.Layers {
			if l.Blob == blob && l.DiffID == diffID {
				s.mu.RUnlock()
				return nil
			}
		}
	}
	s.mu.RUnlock()
	f, err := s.blobs.open(blob)
	if err != nil {
		return err
	}
	defer f.Close()
	rc, err := decompress(f)
	if err != nil {
		return fmt.Errorf("layer %s: %v: %w", blob, err, errdefs.ErrInvalidArgument)
	}
	defer rc.Close()
	dg := digest.SHA256.Digester()
	if _, err := io.Copy(dg.Hash(), readerCtx{ctx, rc}); err != nil {
		return fmt.Errorf("layer %s: %w", blob, err)
	}
	if got := dg.Digest(); got != diffID {
		return fmt.Errorf("layer diff ID mismatch: config says %s, content is %s: %w", diffID, got, errdefs.ErrInvalidArgument)
	}
	return nil
}

// knownLayerSize is the unpacked size of an existing layer: from an image
// that has it, else measured.
func (s *Store) knownLayerSize(ctx context.Context, chainID digest.Digest) (int64, error) {
	s.mu.RLock()
	for _, e := range s.images {
		for i, c := range identity.ChainIDs(e.diffIDs()) {
			if c == chainID {
				n := e.rec.Layers[i].Size
				s.mu.RUnlock()
				return n, nil
			}
		}
	}
	s.mu.RUnlock()
	return s.sn.Usage(ctx, chainID.String())
}

// mediaTypeOf names a layer blob's media type from its first bytes.
func mediaTypeOf(head []byte) string {
	switch compression.Detect(head) {
	case compression.Gzip:
		return ocispec.MediaTypeImageLayerGzip
	case compression.Zstd:
		return ocispec.MediaTypeImageLayerZstd
	default:
		return ocispec.MediaTypeImageLayer
	}
}

// decompress is compression.DecompressStream with a faster gzip decoder:
// klauspost's inflates about twice as fast as the standard library's, and
// inflating is what bounds pull and load.
func decompress(r io.Reader) (io.ReadCloser, error) {
	br := bufio.NewReaderSize(r, 256<<10)
	head, _ := br.Peek(10)
	if compression.Detect(head) == compression.Gzip {
		return gzip.NewReader(br)
	}
	return compression.DecompressStream(br)
}

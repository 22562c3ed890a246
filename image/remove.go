package image

import (
	"context"
	"fmt"
	"sort"

	"github.com/containerd/errdefs"
	"github.com/distribution/reference"
	imagetypes "github.com/moby/moby/api/types/image"
	digest "github.com/opencontainers/go-digest"
	bolt "go.etcd.io/bbolt"
)

// Remove is `docker rmi`. By name it removes that reference, and the image
// with it when it was the last one (unless a container uses the image: then
// Conflict, or with force just the untag). By ID it removes every reference
// and the image: Conflict if a container uses it, if images were built on
// it, or if its references span several repositories and force is not set.
// Unless noPrune, the untagged parents it was built on (a build's
// intermediate images) go too when nothing else needs them. Layers no other
// image uses are removed.
func (s *Store) Remove(ctx context.Context, refOrID string, force, noPrune bool, inUse func(id digest.Digest) bool) ([]imagetypes.DeleteResponse, error) {
	s.layerMu.Lock()
	defer s.layerMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ref, err := s.resolve(refOrID)
	if err != nil {
		return nil, err
	}
	id := e.rec.ID
	refs := s.refsOf(id)
	used := inUse != nil && inUse(id)

	if ref != nil {
		drop := droppedWith(ref, refs)
		if len(refs) > len(drop) || (used && force) {
			var resp []imagetypes.DeleteResponse
			for _, r := range drop {
				if err := s.untag(r); err != nil {
					return nil, err
				}
				resp = append(resp, imagetypes.DeleteResponse{Untagged: FamiliarString(r)})
			}
			return resp, nil
		}
		if used {
			return nil, errdefs.ErrConflict.WithMessage(fmt.Sprintf(
				"conflict: unable to remove repository reference %q (must force) - container is using its referenced image %s", refOrID, shortID(id)))
		}
	} else {
		if used {
			return nil, errdefs.ErrConflict.WithMessage(fmt.Sprintf(
				"conflict: unable to delete %s (cannot be forced) - image is being used by running container", shortID(id)))
		}
		if s.childCounts()[id] > 0 {
			return nil, errdefs.ErrConflict.WithMessage(fmt.Sprintf(
				"conflict: unable to delete %s (cannot be forced) - image has dependent child images", shortID(id)))
		}
		if !force && !singleRepository(refs) {
			return nil, errdefs.ErrConflict.WithMessage(fmt.Sprintf(
				"conflict: unable to delete %s (must be forced) - image is referenced in multiple repositories", shortID(id)))
		}
	}
	if ref != nil && s.childCounts()[id] > 0 {
		// The last name of an image others were built on: it stays as
		// their (now untagged) parent.
		if err := s.untag(ref); err != nil {
			return nil, err
		}
		return []imagetypes.DeleteResponse{{Untagged: FamiliarString(ref)}}, nil
	}
	victims := []*entry{e}
	if !noPrune {
		victims = append(victims, s.prunableParents(e, inUse)...)
	}
	resp, _, err := s.deleteImages(ctx, victims)
	return resp, err
}

// childCounts maps each image ID to the number of images built on it.
// Callers hold mu.
func (s *Store) childCounts() map[digest.Digest]int {
	n := map[digest.Digest]int{}
	for _, e := range s.images {
		if e.rec.Parent != "" {
			n[e.rec.Parent]++
		}
	}
	return n
}

// prunableParents walks up from e while the parent is untagged, unused and
// has no other child: a build's intermediate images below a removed image.
// Callers hold mu.
func (s *Store) prunableParents(e *entry, inUse func(digest.Digest) bool) []*entry {
	children := s.childCounts()
	var out []*entry
	for p := s.images[e.rec.Parent]; p != nil; p = s.images[p.rec.Parent] {
		if len(s.refsOf(p.rec.ID)) > 0 || children[p.rec.ID] != 1 || (inUse != nil && inUse(p.rec.ID)) {
			break
		}
		out = append(out, p)
	}
	return out
}

// droppedWith is what removing ref from an image with refs removes, as in
// docker: ref, and when ref was its repository's last tag on the image,
// that repository's repo@digest references (from pull and push) too.
func droppedWith(ref reference.Named, refs []reference.Named) []reference.Named {
	drop := []reference.Named{ref}
	if _, ok := ref.(reference.Canonical); ok {
		return drop
	}
	var digests []reference.Named
	for _, r := range refs {
		if r.Name() != ref.Name() || r.String() == ref.String() {
			continue
		}
		if _, ok := r.(reference.Canonical); !ok {
			return drop // another tag of the repository stays
		}
		digests = append(digests, r)
	}
	return append(drop, digests...)
}

// singleRepository reports whether refs all name the same repository, in
// which case deleting by ID may drop them all without force.
func singleRepository(refs []reference.Named) bool {
	for _, r := range refs {
		if r.Name() != refs[0].Name() {
			return false
		}
	}
	return true
}

// untag removes one reference. Callers hold mu.
func (s *Store) untag(ref reference.Named) error {
	if err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketTags).Delete([]byte(ref.String()))
	}); err != nil {
		return err
	}
	delete(s.tags, ref.String())
	return nil
}

// Prune is `docker image prune`: removes dangling images (no tags, and no
// image built on them — a build's intermediate images stay while their
// tagged child does), or with danglingOnly false every image no container
// uses, and their unused layers. Parents go after their children.
func (s *Store) Prune(ctx context.Context, danglingOnly bool, inUse func(digest.Digest) bool) (imagetypes.PruneReport, error) {
	s.layerMu.Lock()
	defer s.layerMu.Unlock()
	s.mu.Lock()
	defer s.mu.Unlock()
	var victims []*entry
	gone := map[digest.Digest]bool{}
	children := s.childCounts()
	for {
		more := false
		for id, e := range s.images {
			if gone[id] || children[id] > 0 || (danglingOnly && len(s.refsOf(id)) > 0) || (inUse != nil && inUse(id)) {
				continue
			}
			gone[id], more = true, true
			victims = append(victims, e)
			if p := e.rec.Parent; p != "" {
				children[p]--
			}
		}
		if !more {
			break
		}
	}
	sort.Slice(victims, func(i, j int) bool { return victims[i].rec.ID < victims[j].rec.ID })
	report := imagetypes.PruneReport{ImagesDeleted: []imagetypes.DeleteResponse{}}
	if len(victims) == 0 {
		return report, nil
	}
	resp, reclaimed, err := s.deleteImages(ctx, victims)
	report.ImagesDeleted = append(report.ImagesDeleted, resp...)
	report.SpaceReclaimed = reclaimed
	return report, err
}

// deleteImages drops the records and references of victims in one
// transaction, then removes the layer snapshots and blobs no remaining image
// uses. Callers hold layerMu and mu exclusively.
func (s *Store) deleteImages(ctx context.Context, victims []*entry) ([]imagetypes.DeleteResponse, uint64, error) {
	var resp []imagetypes.DeleteResponse
	var refKeys []string
	for _, e := range victims {
		for _, r := range s.refsOf(e.rec.ID) {
			refKeys = append(refKeys, r.String())
			resp = append(resp, imagetypes.DeleteResponse{Untagged: FamiliarString(r)})
		}
	}
	if err := s.db.Update(func(tx *bolt.Tx) error {
		bt, bi := tx.Bucket(bucketTags), tx.Bucket(bucketImages)
		for _, k := range refKeys {
			if err := bt.Delete([]byte(k)); err != nil {
				return err
			}
		}
		for _, e := range victims {
			if err := bi.Delete([]byte(e.rec.ID)); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		return nil, 0, fmt.Errorf("delete images: %w", err)
	}
	for _, k := range refKeys {
		delete(s.tags, k)
	}
	for _, e := range victims {
		delete(s.images, e.rec.ID)
		resp = append(resp, imagetypes.DeleteResponse{Deleted: string(e.rec.ID)})
	}

	// What the survivors still need.
	usedChains := map[string]bool{}
	usedBlobs := map[digest.Digest]bool{}
	for _, e := range s.images {
		for _, c := range chainIDsOf(e) {
			usedChains[c] = true
		}
		usedBlobs[e.rec.ID] = true
		for _, l := range e.rec.Layers {
			usedBlobs[l.Blob] = true
		}
	}
	// Candidate layers, deepest first so children go before their parents.
	type cand struct {
		chain string
		depth int
		size  int64
	}
	var cands []cand
	seen := map[string]bool{}
	for _, e := range victims {
		for i, c := range chainIDsOf(e) {
			if !usedChains[c] && !seen[c] {
				seen[c] = true
				cands = append(cands, cand{c, i, e.rec.Layers[i].Size})
			}
		}
	}
	sort.SliceStable(cands, func(i, j int) bool { return cands[i].depth > cands[j].depth })
	var reclaimed uint64
	for _, c := range cands {
		err := s.sn.Remove(ctx, c.chain)
		switch {
		case err == nil:
			resp = append(resp, imagetypes.DeleteResponse{Deleted: c.chain})
			reclaimed += uint64(c.size)
		case errdefs.IsNotFound(err):
		case errdefs.IsFailedPrecondition(err):
			// A container (or a layer above it) still sits on this layer; it
			// is collected when that goes and the image store restarts.
			s.logger.DebugContext(ctx, "layer still in use", "chain", c.chain)
		default:
			s.logger.WarnContext(ctx, "remove layer", "chain", c.chain, "err", err)
		}
	}
	for _, e := range victims {
		for _, d := range append([]digest.Digest{e.rec.ID}, blobsOf(e)...) {
			if !usedBlobs[d] {
				usedBlobs[d] = true // remove once
				if err := s.blobs.remove(d); err != nil {
					s.logger.WarnContext(ctx, "remove blob", "digest", d, "err", err)
				}
			}
		}
	}
	return resp, reclaimed, nil
}

func blobsOf(e *entry) []digest.Digest {
	var out []digest.Digest
	for _, l := range e.rec.Layers {
		out = append(out, l.Blob)
	}
	return out
}

package storage

import (
	"context"
	"time"

	digest "github.com/opencontainers/go-digest"
)

// GCOptions tunes a collection.
type GCOptions struct {
	DryRun bool // report, remove nothing
	// StaleUploads is the age past which an unfinished upload is dropped
	// (0: keep every upload).
	StaleUploads time.Duration
	// Removed is told each blob collected (or that would be, on a dry run).
	Removed func(d digest.Digest, size int64)
	// StaleUpload is told each stale upload dropped (or that would be).
	StaleUpload func(u Upload)
}

// GCResult sums a collection up.
type GCResult struct {
	Marked, Removed int
	RemovedBytes    int64
	Uploads         int // stale uploads dropped (or that would be)
}

// GC removes the blobs no manifest of any repository reaches: it marks
// every manifest each repository holds (tagged or not), recursively through
// index entries and subjects, with their configs and layers, then sweeps
// the rest and the repository links that pointed at them. The caller must
// hold Lock: a server pushing meanwhile could lose a blob it just received.
func (s *Store) GC(ctx context.Context, opts GCOptions) (GCResult, error) {
	var res GCResult
	marked := map[digest.Digest]bool{}
	var mark func(d digest.Digest, manifest bool)
	mark = func(d digest.Digest, manifest bool) {
		if marked[d] {
			return
		}
		marked[d] = true
		if !manifest {
			return
		}
		body, err := s.ReadBlob(d)
		if err != nil {
			return // a sparse index entry or a missing subject
		}
		m, _, err := ParseManifest("", body)
		if err != nil {
			return
		}
		if m.Config != nil {
			mark(m.Config.Digest, false)
		}
		for _, l := range append(m.Layers, m.Blobs...) {
			mark(l.Digest, false)
		}
		for _, c := range m.Manifests {
			mark(c.Digest, true)
		}
		if m.Subject != nil {
			mark(m.Subject.Digest, true)
		}
	}
	repos, err := s.Repositories()
	if err != nil {
		return res, err
	}
	for _, repo := range repos {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		ms, err := s.Manifests(repo)
		if err != nil {
			return res, err
		}
		for _, d := range ms {
			mark(d, true)
		}
	}
	res.Marked = len(marked)

	var doomed []digest.Digest
	err = s.WalkBlobs(func(d digest.Digest, size int64) error {
		if marked[d] {
			return ctx.Err()
		}
		doomed = append(doomed, d)
		res.Removed++
		res.RemovedBytes += size
		if opts.Removed != nil {
			opts.Removed(d, size)
		}
		if opts.DryRun {
			return nil
		}
		return s.DeleteBlob(d)
	})
	if err != nil {
		return res, err
	}
	if !opts.DryRun {
		// Links to swept blobs would claim content the store no longer has.
		gone := map[digest.Digest]bool{}
		for _, d := range doomed {
			gone[d] = true
		}
		for _, repo := range repos {
			links, err := s.BlobLinks(repo)
			if err != nil {
				return res, err
			}
			for _, d := range links {
				if gone[d] {
					s.UnlinkBlob(repo, d)
				}
			}
		}
	}
	if opts.StaleUploads > 0 {
		ups, err := s.Uploads()
		if err != nil {
			return res, err
		}
		for _, u := range ups {
			if time.Since(u.Started) <= opts.StaleUploads {
				continue
			}
			if !opts.DryRun && s.CancelUpload(u.Repository, u.ID) != nil {
				continue
			}
			res.Uploads++
			if opts.StaleUpload != nil {
				opts.StaleUpload(u)
			}
		}
	}
	return res, nil
}

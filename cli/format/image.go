package format

import (
	"sort"
	"strconv"
	"time"

	"github.com/distribution/reference"
	units "github.com/docker/go-units"
	"github.com/moby/moby/api/types/image"
)

// Default table layouts of `images`, as in the docker CLI.
const (
	DefaultImageTable        = "table {{.Repository}}\t{{.Tag}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
	DefaultImageTableDigests = "table {{.Repository}}\t{{.Tag}}\t{{.Digest}}\t{{.ID}}\t{{.CreatedSince}}\t{{.Size}}"
	QuietImageFormat         = "{{.ID}}"
)

// ImageHeader maps image placeholders to docker's column titles.
var ImageHeader = map[string]string{
	"ID": "IMAGE ID", "Repository": "REPOSITORY", "Tag": "TAG", "Digest": "DIGEST",
	"CreatedSince": "CREATED", "CreatedAt": "CREATED AT", "Size": "SIZE",
	"Containers": "CONTAINERS", "SharedSize": "SHARED SIZE", "UniqueSize": "UNIQUE SIZE",
	"VirtualSize": "VIRTUAL SIZE",
}

// Image is one `images` row: an image under one repository:tag (or <none>).
type Image struct {
	i      image.Summary
	repo   string
	tag    string
	digest string
	trunc  bool
	now    time.Time
}

// MarshalJSON renders all placeholders, as `{{json .}}` does in docker.
func (c Image) MarshalJSON() ([]byte, error) { return marshalMethods(c) }

// ImageRows expands summaries into docker's rows: one per repository:tag, digests shown
// per tag when withDigests, dangling images as <none>:<none>.
func ImageRows(images []image.Summary, withDigests, trunc bool, now time.Time) []any {
	var rows []any
	add := func(i image.Summary, repo, tag, digest string) {
		rows = append(rows, Image{i: i, repo: repo, tag: tag, digest: digest, trunc: trunc, now: now})
	}
	for _, img := range images {
		repoTags := map[string][]string{}
		repoDigests := map[string][]string{}
		for _, s := range img.RepoTags {
			ref, err := reference.ParseNormalizedNamed(s)
			if err != nil {
				continue
			}
			if nt, ok := ref.(reference.NamedTagged); ok {
				name := reference.FamiliarName(ref)
				repoTags[name] = append(repoTags[name], nt.Tag())
			}
		}
		for _, s := range img.RepoDigests {
			ref, err := reference.ParseNormalizedNamed(s)
			if err != nil {
				continue
			}
			if c, ok := ref.(reference.Canonical); ok {
				name := reference.FamiliarName(ref)
				repoDigests[name] = append(repoDigests[name], c.Digest().String())
			}
		}
		for _, repo := range sortedKeys(repoTags) {
			digests := repoDigests[repo]
			delete(repoDigests, repo)
			if !withDigests {
				digests = nil
			}
			for _, tag := range repoTags[repo] {
				if len(digests) == 0 {
					add(img, repo, tag, "<none>")
				}
				for _, d := range digests {
					add(img, repo, tag, d)
				}
			}
		}
		for _, repo := range sortedKeys(repoDigests) {
			if !withDigests {
				add(img, repo, "<none>", "<none>")
				continue
			}
			for _, d := range repoDigests[repo] {
				add(img, repo, "<none>", d)
			}
		}
		if len(img.RepoTags) == 0 && len(img.RepoDigests) == 0 {
			add(img, "<none>", "<none>", "<none>")
		}
	}
	return rows
}

func sortedKeys(m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// ID is the image ID without its algorithm, 12 characters unless --no-trunc.
func (c Image) ID() string {
	if c.trunc {
		return TruncateID(c.i.ID)
	}
	return c.i.ID
}

// Repository is the familiar repository name or <none>.
func (c Image) Repository() string { return c.repo }

// Tag is the tag or <none>.
func (c Image) Tag() string { return c.tag }

// Digest is the manifest digest or <none>.
func (c Image) Digest() string { return c.digest }

// CreatedSince is the human age of the image.
func (c Image) CreatedSince() string {
	if c.i.Created == 0 {
		return "N/A"
	}
	return units.HumanDuration(c.now.Sub(time.Unix(c.i.Created, 0))) + " ago"
}

// CreatedAt is the creation time in Go's default time format.
func (c Image) CreatedAt() string { return time.Unix(c.i.Created, 0).String() }

// Size is the image size with three significant digits ("4.26MB").
func (c Image) Size() string { return units.HumanSizeWithPrecision(float64(c.i.Size), 3) }

// VirtualSize equals Size since API 1.44.
func (c Image) VirtualSize() string { return c.Size() }

// SharedSize is the space shared with other images, or N/A when not computed.
func (c Image) SharedSize() string {
	if c.i.SharedSize == -1 {
		return "N/A"
	}
	return units.HumanSizeWithPrecision(float64(c.i.SharedSize), 3)
}

// UniqueSize is the space only this image uses, or N/A.
func (c Image) UniqueSize() string {
	if c.i.SharedSize == -1 {
		return "N/A"
	}
	return units.HumanSizeWithPrecision(float64(c.i.Size-c.i.SharedSize), 3)
}

// Containers counts containers using the image, or N/A when not computed.
func (c Image) Containers() string {
	if c.i.Containers == -1 {
		return "N/A"
	}
	return strconv.FormatInt(c.i.Containers, 10)
}

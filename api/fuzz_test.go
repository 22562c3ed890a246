package api

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/build"
	"github.com/stretchr/testify/require"

	"wharf.io/wharf/builder"
)

func FuzzFilters(f *testing.F) {
	for _, s := range []string{
		``, `{}`, `null`, `{"a":{"b":true}}`, `{"a":["b","c"]}`, `{"a":{"b":false}}`,
		`{"a":null}`, `{"a":"b"}`, `{"a":[1]}`, `[]`, `{"label":{"x=y":true},"status":["running"]}`, `{`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := decodeFilters(raw)
		if err != nil {
			require.Nil(t, got)
			return
		}
		for k, vals := range got {
			for i := 1; i < len(vals); i++ {
				require.Less(t, vals[i-1], vals[i], "values of %q not sorted and unique", k)
			}
		}
		// What we accept, re-encoded in the modern form, decodes the same.
		if len(got) > 0 {
			modern := map[string]map[string]bool{}
			for k, vals := range got {
				modern[k] = map[string]bool{}
				for _, v := range vals {
					modern[k][v] = true
				}
			}
			b, err := json.Marshal(modern)
			require.NoError(t, err)
			again, err := decodeFilters(string(b))
			require.NoError(t, err)
			require.Equal(t, len(got), len(again))
			for k := range got {
				require.ElementsMatch(t, got[k], again[k])
			}
		}
	})
}

func FuzzParseTimestamp(f *testing.F) {
	for _, s := range []string{"", "0", "1700000000", "1700000000.5", "1700000000.000000001", "-1", "1.", ".5", "abc", "1e9", "+5", "1.-5", "99999999999999999999"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		ts, err := parseTimestamp("since", v)
		if err != nil {
			return
		}
		if v == "" {
			require.True(t, ts.IsZero())
			return
		}
		// Printing it the way the docker client does reads back the same.
		again, err := parseTimestamp("since", fmt.Sprintf("%d.%09d", ts.Unix(), ts.Nanosecond()))
		require.NoError(t, err)
		require.True(t, ts.Equal(again), "%q: %v != %v", v, ts, again)
	})
}

// FuzzHandler throws arbitrary requests at the whole handler: whatever the
// method, path, query or body, it must answer without panicking, and
// never with a 500 coming from a recovered panic.
func FuzzHandler(f *testing.F) {
	seeds := []struct{ method, target, body string }{
		{"GET", "/_ping", ""},
		{"POST", "/v1.52/containers/create?name=x", `{"Image":"busybox:local"}`},
		{"POST", "/containers/create", `{"Image":null,"HostConfig":{"Binds":[1]}}`},
		{"GET", "/containers/json?all=1&filters=%7B%22a%22%3A%5B%22b%22%5D%7D", ""},
		{"GET", "/v1.41/images/127.0.0.1:5000/a/b:1/json", ""},
		{"DELETE", "/images/a/b/c?force=1", ""},
		{"POST", "/images/x/tag?repo=a&tag=b", ""},
		{"POST", "/images/create?fromSrc=-&repo=x&changes=CMD", "tar"},
		{"POST", "/images/load?quiet=1", "tar"},
		{"GET", "/containers/c1/logs?stdout=1&since=1.5&tail=3", ""},
		{"POST", "/containers/c1/wait?condition=removed", ""},
		{"GET", "/events?since=1&until=2&filters={}", ""},
		{"POST", "/exec/e1/start", `{"Detach":true}`},
		{"POST", "/containers/c1/exec", `{"Cmd":["sh"]}`},
		{"GET", "/v1.9999999999999999999/info", ""},
		{"GET", "/v./info", ""},
		{"POST", "/volumes/create", `{"Name":"v"}`},
		{"GET", "/images/get?names=busybox:local", ""},
		{"POST", "/networks/create", `{"Name":"n","IPAM":{"Config":[{"Subnet":"10.0.0.0/24","Gateway":"10.0.0.1"}]}}`},
		{"GET", "/networks?filters={\"name\":[\"n\"]}", ""},
		{"GET", "/networks/b1?verbose=1&scope=local", ""},
		{"POST", "/networks/bridge/connect", `{"Container":"c1","EndpointConfig":{"IPAMConfig":{"IPv4Address":"10.0.0.9"}}}`},
		{"POST", "/networks/bridge/disconnect", `{"Container":"c1","Force":true}`},
		{"DELETE", "/networks/b", ""},
		{"POST", "/networks/prune?filters={}", ""},
		{"POST", "/v1.41/build?t=a&t=b:2&dockerfile=Dockerfile&buildargs=%7B%22A%22%3A%221%22%7D&labels=%7B%7D&networkmode=none&q=1", "FROM busybox\nARG A\nRUN echo $A\n"},
		{"POST", "/build?dockerfile=..%2F..%2Fetc%2Fpasswd&target=x", "FROM busybox AS x\nCOPY --link a b\n"},
		{"POST", "/build/prune?all=1", ""},
		{"POST", "/build/cancel?id=x", ""},
	}
	for _, s := range seeds {
		f.Add(s.method, s.target, s.body)
	}
	f.Fuzz(func(t *testing.T, method, target, body string) {
		if !strings.HasPrefix(target, "/") {
			target = "/" + target
		}
		req, err := http.NewRequest(method, "http://d"+target, bytes.NewBufferString(body))
		if err != nil {
			return
		}
		fb := &fuzzBuildFake{fakeBackend: newFake()}
		// Streams in the fake end at once, so no request can block.
		rec := httptest.NewRecorder()
		New(fb, WithLogger(discardLogger())).ServeHTTP(rec, req)
		require.NotZero(t, rec.Code)
		if rec.Code == http.StatusInternalServerError {
			require.NotContains(t, rec.Body.String(), "internal server error", "handler panicked on %s %s", method, target)
		}
	})
}

// fuzzBuildFake is the fake backend able to build as far as no engine is
// needed: it unpacks the context the way the daemon does and parses the
// Dockerfile, so FuzzHandler's /build requests reach the builder's input
// handling.
type fuzzBuildFake struct{ *fakeBackend }

func (f *fuzzBuildFake) Build(ctx context.Context, src io.Reader, opts builder.Options, out io.Writer) (string, error) {
	dir, err := os.MkdirTemp("", "fuzz-build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	if err := builder.ExtractContext(src, dir, 1<<20); err != nil {
		return "", err
	}
	name := opts.Dockerfile
	if name == "" {
		name = "Dockerfile"
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return "", err
	}
	defer root.Close()
	data, err := root.ReadFile(name)
	if err != nil {
		return "", fmt.Errorf("Cannot locate specified Dockerfile: %s: %w", name, errdefs.ErrInvalidArgument)
	}
	df, err := builder.Parse("Dockerfile", data)
	if err != nil {
		return "", err
	}
	msg, err := json.Marshal(map[string]string{"stream": fmt.Sprintf("Step 1/%d : FROM %s\n", len(df.Stages), df.Stages[0].BaseName)})
	if err != nil {
		return "", err
	}
	out.Write(append(msg, '\r', '\n'))
	return "sha256:" + strings.Repeat("0", 64), nil
}

func (f *fuzzBuildFake) BuildPrune(ctx context.Context, all bool) (build.CachePruneReport, error) {
	return build.CachePruneReport{CachesDeleted: []string{}}, nil
}

package opts

import (
	"strings"
	"testing"
)

// The fuzz targets check that no input panics and that accepted input keeps the
// invariants the daemon relies on (absolute targets, valid policy names).

func FuzzParseMount(f *testing.F) {
	for _, s := range []string{"type=bind,src=/a,dst=/b,ro", "dst=/v,volume-opt=a=b", `"volume-opt=o=x,y",dst=/v`, "type=tmpfs,dst=/t,tmpfs-mode=700"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		m, err := ParseMount(s)
		if err == nil && !strings.HasPrefix(m.Target, "/") {
			t.Fatalf("accepted relative target %q", m.Target)
		}
	})
}

func FuzzParseVolume(f *testing.F) {
	for _, s := range []string{"/d", "v:/d", "/h:/d:ro,z", "a:b:c:d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, err := ParseVolume(s)
		if err == nil && !strings.HasPrefix(v.Target, "/") {
			t.Fatalf("accepted relative target %q", v.Target)
		}
	})
}

func FuzzParseRestartPolicy(f *testing.F) {
	for _, s := range []string{"no", "always", "on-failure:3", "unless-stopped", "on-failure:-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseRestartPolicy(s)
		if err != nil {
			return
		}
		switch p.Name {
		case "no", "always", "unless-stopped", "on-failure":
		default:
			t.Fatalf("accepted policy %q", p.Name)
		}
		if p.MaximumRetryCount < 0 {
			t.Fatalf("negative retry count")
		}
	})
}

func FuzzParseEnvFile(f *testing.F) {
	for _, s := range []string{"A=1\n# c\nB\n", "\xEF\xBB\xBFX=y", "BAD NAME=1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		lines, err := ParseEnvFile(strings.NewReader(s), func(string) (string, bool) { return "v", true })
		if err != nil {
			return
		}
		for _, l := range lines {
			if name, _, _ := strings.Cut(l, "="); name == "" || strings.ContainsAny(name, " \t\n") {
				t.Fatalf("accepted bad name in %q", l)
			}
		}
	})
}

func FuzzParsePublish(f *testing.F) {
	for _, s := range []string{"80", "8080:80", "127.0.0.1:53:53/udp", "[::1]:80:80", "1-2:1-2"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, _, _ = ParsePublish([]string{s})
	})
}

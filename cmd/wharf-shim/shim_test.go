package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"wharf.io/wharf/runtime/shim/wire"
)

type entry struct{ Log, Stream, Time string }

func readEntries(t *testing.T, path string) []entry {
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var out []entry
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if l == "" {
			continue
		}
		var e entry
		require.NoError(t, json.Unmarshal([]byte(l), &e), l)
		out = append(out, e)
	}
	return out
}

func TestJSONLogSplitsLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c-json.log")
	l, err := openJSONLog(path)
	require.NoError(t, err)
	l.write("stdout", []byte("a\nb"))
	l.write("stderr", []byte("err\n"))
	l.write("stdout", []byte("c\n<&>\n"))
	l.write("stdout", []byte(strings.Repeat("x", maxLogLine+10)))
	l.write("stderr", []byte("partial"))
	l.close()
	got := readEntries(t, path)
	var logs []string
	for _, e := range got {
		logs = append(logs, e.Stream+":"+e.Log)
	}
	assert.Equal(t, []string{
		"stdout:a\n", "stderr:err\n", "stdout:bc\n", "stdout:<&>\n",
		"stdout:" + strings.Repeat("x", maxLogLine),
		"stdout:" + strings.Repeat("x", 10), "stderr:partial",
	}, logs)
	assert.True(t, strings.HasSuffix(got[0].Time, "Z"))
}

func TestClassify(t *testing.T) {
	assert.Equal(t, wire.KindCommandNotFound, classify(`runc create failed: unable to start container process: exec: "nope": executable file not found in $PATH`))
	assert.Equal(t, wire.KindCommandNotFound, classify(`exec: "/x": stat /x: no such file or directory`))
	assert.Equal(t, wire.KindCannotInvoke, classify(`exec: "/etc": permission denied`))
	assert.Equal(t, "", classify(`cgroup: something else`))
}

func TestRuntimeLogError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "runtime.log")
	old := `{"level":"error","msg":"old failure","time":"x"}` + "\n"
	require.NoError(t, os.WriteFile(path, []byte(old+
		`{"level":"warning","msg":"just a warning"}`+"\n"+
		`{"level":"error","msg":"runc create failed: boom","time":"y"}`+"\n"+
		"not json\n"), 0o600))
	assert.Equal(t, "runc create failed: boom", runtimeLogError(path, int64(len(old))))
	assert.Equal(t, "", runtimeLogError(path+".missing", 0))
}

func FuzzRuntimeLogError(f *testing.F) {
	f.Add([]byte(`{"level":"error","msg":"x"}` + "\n"))
	f.Add([]byte("{\n\n"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, b []byte) {
		path := filepath.Join(dir, "runtime.log")
		require.NoError(t, os.WriteFile(path, b, 0o600))
		_ = runtimeLogError(path, 0)
	})
}

func FuzzJSONLog(f *testing.F) {
	f.Add([]byte("a\nb\n"), []byte("c"))
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, a, b []byte) {
		path := filepath.Join(dir, "log")
		os.Remove(path)
		l, err := openJSONLog(path)
		require.NoError(t, err)
		l.write("stdout", a)
		l.write("stdout", b)
		l.close()
		total := 0
		for _, e := range readEntries(t, path) {
			require.LessOrEqual(t, len(e.Log), maxLogLine*3) // U+FFFD may widen bytes
			total++
		}
		if len(a)+len(b) > 0 {
			require.Greater(t, total, 0)
		}
	})
}

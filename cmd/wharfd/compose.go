package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/sirupsen/logrus"

	"wharf.io/wharf/compose"
)

// composeMain is `wharfd compose convert --namespace NS -c FILE…`: it
// prints the stack's objects as JSON for `wharf stack deploy`. Compose
// loading lives here, not in the client, because compose-go costs every
// process that links it ~4 ms of start-up.
func composeMain(args []string) int {
	if len(args) == 0 || args[0] != "convert" {
		fmt.Fprintln(os.Stderr, "usage: wharfd compose convert --namespace STACK -c FILE [-c FILE…]")
		return 2
	}
	fs := flag.NewFlagSet("wharfd compose convert", flag.ContinueOnError)
	var files stringList
	ns := fs.String("namespace", "", "stack name")
	fs.Var(&files, "c", "compose file (repeatable)")
	if err := fs.Parse(args[1:]); err != nil {
		return 2
	}
	if *ns == "" || len(files) == 0 {
		fmt.Fprintln(os.Stderr, "wharfd compose convert: --namespace and -c are required")
		return 2
	}
	// compose-go logs through logrus (e.g. "version is obsolete"):
	// docker stack deploy does not show those.
	logrus.SetLevel(logrus.ErrorLevel)
	if err := composeConvert(files, *ns, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// composeConvert writes the stack of the compose files, relative paths in
// them resolved against the working directory, as JSON to out. A file
// named "-" is read from stdin (wharf stack deploy -c - passes its own).
func composeConvert(files []string, namespace string, out io.Writer) error {
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	p, err := compose.LoadFrom(context.Background(), files, wd, os.Environ(), os.Stdin)
	if err != nil {
		return err
	}
	st, err := compose.Convert(p, namespace)
	if err != nil {
		return err
	}
	return json.NewEncoder(out).Encode(st)
}

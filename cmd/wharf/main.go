// Command wharf is the client: docker's command-line grammar over the Engine API.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"wharf.io/wharf/cli"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	streams := cli.Streams{In: os.Stdin, Out: os.Stdout, Err: os.Stderr}
	err := cli.NewRootCommandFor(streams, os.Args[1:]).ExecuteContext(ctx)
	stop()
	cli.PrintError(streams.Err, err)
	os.Exit(cli.ExitCode(err))
}

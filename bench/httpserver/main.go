// Command httpserver is a tiny static HTTP server with keep-alive, mounted
// into a container by bench/http.sh: busybox httpd closes every connection,
// which measures connection setup rather than a published port's throughput.
package main

import (
	"net/http"
	"os"
)

func main() {
	host, _ := os.Hostname() // tells replicas behind the routing mesh apart
	page := []byte("<html><body>wharf bench " + host + "</body></html>\n")
	http.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { w.Write(page) })
	if err := http.ListenAndServe(":"+os.Args[1], nil); err != nil {
		os.Exit(1)
	}
}

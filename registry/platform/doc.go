// Package platform parses, normalises and matches image platforms
// ("linux/amd64", "linux/arm/v7") the way docker's --platform flags read
// them, so the CLI and the engine agree on what a flag means.
package platform

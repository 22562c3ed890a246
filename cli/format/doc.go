// Package format renders API objects the way the docker CLI does: tables with docker's
// column names and truncation, and --format Go templates with docker's placeholders and
// helper functions (json, table, join, upper, …).
package format

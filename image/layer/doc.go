// Package layer unpacks image layer diffs (tar streams with AUFS-style
// whiteouts) into a snapshot's upper directory, never writing outside it.
package layer

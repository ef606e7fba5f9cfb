// Package policy owns the operator policies: the directory of *.cedar files
// that extend the embedded baseline (internal/authz), the test cases beside
// them (*.cedartest), and the active set the daemon decides with.
//
// A directory is loaded as a whole (Load): every policy file is read with
// its permissions checked, parsed and validated against the schema
// together with the baseline, and every test case is evaluated against the
// result. Any problem rejects the whole directory with an error naming the
// file and line, or the test case and why it failed; nothing of it is used.
// Files are opened without following symbolic links, the directories
// above the policy directory must not be writable by anyone but root and
// palyrad's user, and a directory whose files were modified within the
// last second is read twice and refused if it changed in between.
// Holder keeps the active Set and swaps it atomically on a successful
// Reload, so a rejected reload leaves the previous set answering; a
// missing directory is the baseline alone only if it is optional and has
// never been loaded. Holder.Test runs the cases of the directory's current
// content, serialized with reloads and cached by digest.
//
// The file formats, the defaults and the CLI are documented in
// docs/policies.md.
package policy

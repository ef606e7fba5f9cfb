// Package policy owns the operator policies: the directory of *.cedar files
// that extend the embedded baseline (internal/authz), the test cases beside
// them (*.cedartest), and the active set the daemon decides with.
//
// A directory is loaded as a whole (Load): every policy file is read with
// its permissions checked, parsed and validated against the schema
// together with the baseline, and every test case is evaluated against the
// result. Any problem rejects the whole directory with an error naming the
// file and line, or the test case and why it failed; nothing of it is used.
// Holder keeps the active Set and swaps it atomically on a successful
// Reload, so a rejected reload leaves the previous set answering.
//
// The file formats, the defaults and the CLI are documented in
// docs/policies.md.
package policy

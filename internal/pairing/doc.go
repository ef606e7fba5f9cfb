// Package pairing is the daemon's pairing protocol (docs/pairing.md): a new
// device or connector proves knowledge of a one-time code with a balanced
// PAKE bound to the TLS channel (RFC 9266 tls-exporter), then submits a CSR
// for its own key, sealed under the PAKE key; an operator (or a
// pre-approved code) approves, and the daemon's CA issues the certificate.
//
// Server holds the daemon side (Start, Finish, Poll and the admin
// operations); Join is the client side, which writes the same bundle as
// `palyra devices enroll`. Codes and requests are stored by package
// devices, which also enforces key continuity.
package pairing

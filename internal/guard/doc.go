// Package guard is the one path every API request takes:
//
//	authenticate → validate → exactly one Cedar decision → journal the
//	decision (fail closed) → act → journal the outcome
//
// The daemon describes its API as a table of [Route]s, one per procedure,
// and serves nothing else: a procedure without a route is not served, and a
// route says who may reach it.
//
//   - [Open] routes (health; later, pairing) are reachable without a
//     credential. They make no decision and write no record, so an anonymous
//     peer can neither get work done for it nor grow the journal; they have
//     their own limits (body size, no compressed bodies).
//   - [Meta] routes (gRPC server reflection) need an authenticated caller but
//     no decision: they describe the public API, not data.
//   - [Unary] and [ServerStream] routes are the API proper. Each names its
//     action; the handler supplies a target function, which validates the
//     request message and names the resource (and the action's Cedar context
//     attributes), and an act function, which does the work. The guard runs
//     the rest. A handler never sees the authorization engine or the
//     journal, so it cannot skip, repeat or reorder them.
//
// Authentication happens before the request body is read: a TLS peer
// without a client certificate gets Unauthenticated for every route but the
// open ones. The decision record is committed to the journal before the
// action runs (durably, fsynced, for routes that change state); the outcome
// record follows without delaying the response. Every authenticated response
// carries the journal's latest signed checkpoint in [HeaderCheckpoint], so
// clients can detect a journal rolled back behind their back.
//
// The shape follows tailscale's ipn/localapi (a permission table in front of
// thin handlers) and step-ca's single authority.Authorize entry point.
package guard

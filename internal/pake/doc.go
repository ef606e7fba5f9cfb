// Package pake is a balanced password-authenticated key exchange: CPace
// (draft-irtf-cfrg-cpace-21) with the cipher suite CPACE-RISTR255-SHA512,
// in the initiator-responder setting, followed by the explicit key
// confirmation that draft's section "Key confirmation" recommends.
//
// Both sides hold the same low-entropy password (a pairing code's
// paircode.Code.Password). An attacker who talks to either side, or sits in
// the middle, gets one online guess per run and learns nothing to test
// further guesses against offline. Both sides must also agree on a channel
// binding (the TLS exporter, RFC 9266) so that a relay terminating TLS on each
// side ends up with two runs whose confirmations both fail.
//
// Use:
//
//	p, share, err := pake.Start(pake.Initiator, cfg, nil) // send share
//	res, err := p.Finish(peerShare)                      // peer's share received
//	// send res.Confirmation(); receive the peer's
//	err = res.Verify(peerConfirmation) // ErrConfirmation: wrong password, relay or tampering
//	key, err := res.Key()              // 32 bytes, only after Verify succeeded
//
// Construction (section numbers of draft-irtf-cfrg-cpace-21):
//
//	PRS  = Config.Password
//	CI   = lv_cat("palyra-pake-v1", InitiatorID, ResponderID, Context)   (identities in CI, initiator first: "Party identifiers")
//	sid  = Config.ChannelBinding                                         (unique per TLS connection: "CPace inputs")
//	ADa  = "initiator", ADb = "responder"                                (fixed, not sent)
//	g    = element_derivation(SHA-512(generator_string("CPaceRistretto255", PRS, CI, sid, 128)))
//	y    = 32 random bytes with the top 4 bits cleared (G.sample_scalar), Y = encode(y*g)
//	K    = scalar_mult_vfy(y, Y_peer); abort if K is the identity or Y_peer does not decode
//	ISK  = SHA-512(lv_cat("CPaceRistretto255_ISK", sid, K) || lv_cat(Ya, ADa) || lv_cat(Yb, ADb))
//	mac_key = SHA-512("CPaceMac" || sid || ISK)
//	Ta   = HMAC-SHA-512(mac_key, lv_cat(Ya, ADa)), Tb = HMAC-SHA-512(mac_key, lv_cat(Yb, ADb))
//	Key  = HKDF-SHA-512(secret ISK, salt sid, info "palyra-pake-v1 session key"), 32 bytes
//
// A share is the 32-byte ristretto255 encoding of Y; a confirmation is the
// 64-byte HMAC tag. Distinct ADa and ADb make the two tags differ, so a
// confirmation reflected back to its sender does not verify; a share
// reflected back is refused outright.
//
// The group arithmetic is github.com/gtank/ristretto255 (RFC 9496 encoding,
// decoding and element derivation, constant-time scalar multiplication);
// hashing is crypto/sha512, crypto/hmac and crypto/hkdf. The draft's test
// vectors for ristretto255 are checked verbatim (testdata/).
package pake

// Package kmiptest is the KMIP 1.1 conformance harness. It replays the
// OASIS test material in ../shared/kmip/vectors against a server reached
// through a RoundTripper and compares decoded TTLV trees.
//
// Two kinds of cases are loaded: the hex-encoded OASIS KMIP Test Cases v1.1
// (tc11_*.json, LoadTC11) and the KMIP XML profile and test-case files for
// protocol 1.1 (xml_*.json, LoadXML), which are converted to TTLV by a
// bounded KMIP XML encoder (KMIP Additional Message Encodings v1.0 section 6).
//
// Running a case (Case.Run) sends each step's request in order and checks the
// response:
//
//   - Identifiers are substituted: whenever an expected response holds a
//     server-assigned identifier (Unique Identifier, Private/Public Key Unique
//     Identifier, Linked Object Identifier, Asynchronous Correlation Value, or
//     an XML $UNIQUE_IDENTIFIER_n / $ASYNCHRONOUS_CORRELATION_VALUE
//     placeholder), the value the server actually returned is recorded, and
//     every later request has each Text or Byte String equal to a recorded
//     vector value replaced by the server's value. Later responses must echo
//     the recorded value: a wrong identifier is a failure, never masked.
//   - Masked fields: the response header Time Stamp, the
//     fields a vector file lists in variable_response_fields (located by byte
//     offset for hex files, by path and value for XML files) and the
//     documented KNOWN-GAPS of the vector files (knownGapMasks) must be
//     present with the same tag and type; their values are not compared. A
//     Result Message may be present or absent on either side.
//   - Server-specific payloads are compared by subset rules (see
//     compare.go): Locate results must contain the expected identifiers and no
//     other identifier of the case's own objects; Get Attributes must return
//     every expected attribute (by name and index) with equal values, except
//     the server-optional attributes Digest, Lease Time and Last Change Date
//     and names KMIP 1.1 does not define (the 1.2-era X.509 attributes of
//     13.2), which may be absent; Get Attribute List must name every expected
//     attribute except those; Discover Versions must list 1.1 when the vector
//     does (and nothing when the vector lists nothing); Query must return at
//     least one Operation and one Object Type when the vector lists them
//     (vendor, server and extension information may be empty).
//   - Time: the hex vectors carry absolute 2012 dates. Every Date-Time in a
//     hex request is shifted by the distance between the case's start and the
//     first recorded response Time Stamp, and unmasked Date-Times in expected
//     responses are shifted the same way. Recorded pauses between steps
//     are reproduced, capped at Options.MaxPause (9.2 needs 120 s); gaps over
//     10 minutes separate sessions of the OASIS transcript (16.1) and are not
//     waited for.
//     XML $NOW±n values are evaluated once per case; in responses they are
//     accepted within the time the case has been running plus a margin.
//
// A server test uses it like this:
//
//	rt := &kmiptest.TLSRoundTripper{Addr: addr, Clients: map[string]*tls.Config{"A": a, "B": b}}
//	defer rt.Close()
//	cases := append(kmiptest.LoadTC11(t), kmiptest.LoadXML(t, "xml_*.json")...)
//	results := kmiptest.RunAll(ctx, cases, rt, kmiptest.Options{})
//	t.Log(kmiptest.Report(results))
//
// Run stops a case at its first failing step and reports the path of every
// difference (up to a limit) with expected and actual values; Report
// summarises pass counts per group and lists every failing case.
package kmiptest

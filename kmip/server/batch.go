package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cofferhsm/coffer/hsm"
	"github.com/cofferhsm/coffer/kmip"
	"github.com/cofferhsm/coffer/kmip/ttlv"
)

// parsedItem is one batch item of a request, or the error that kept it
// from parsing (with whatever Operation and ID could be read).
type parsedItem struct {
	bi  kmip.RequestBatchItem
	err error
}

// batch is the state of one request's execution.
type batch struct {
	id          hsm.Identity
	placeholder string
	scrub       [][]byte // key material to zero once the response is encoded
}

// use returns uid, or the ID Placeholder when uid is empty.
func (b *batch) use(uid string) (string, error) {
	if uid != "" {
		return uid, nil
	}
	if b.placeholder == "" {
		// The KMIP 1.1 test case 15.2 (step 6: after a Locate that found
		// nothing) expects Invalid Field here; the XML profile version of
		// the same case (TC-152) expects Item Not Found. We follow the
		// 1.1 test case document.
		return "", failf(kmip.ResultReasonInvalidField, "no Unique Identifier and no ID Placeholder")
	}
	return b.placeholder, nil
}

// defaultVersion is used in responses to requests whose version is unknown.
var defaultVersion = kmip.ProtocolVersion{Major: 1, Minor: 1}

// serve parses and runs a request. refused non-nil answers every item with
// Authentication Not Successful without running anything.
func (o *Ops) serve(ctx context.Context, peer Peer, request []byte, refused error) []byte {
	start := time.Now()
	if refused != nil {
		o.log.LogAttrs(ctx, slog.LevelInfo, "kmip: refused unauthenticated client",
			slog.String("remote", addrString(peer)), slog.String("error", refused.Error()))
	}
	it, err := ttlv.Decode(request)
	if err != nil {
		o.logLine(ctx, peer, 0, "", resultOf(err), err, start)
		return o.failMessage(defaultVersion, err)
	}
	hdr, items, err := parseRequest(it)
	if err != nil {
		o.logLine(ctx, peer, 0, "", resultOf(err), err, start)
		return o.failMessage(versionOf(it), err)
	}
	v := hdr.ProtocolVersion
	if v.Major != 1 || v.Minor < 0 {
		err := failf(kmip.ResultReasonInvalidMessage, "protocol version %s is not supported", v)
		o.logLine(ctx, peer, 0, "", resultOf(err), nil, start)
		return o.failMessage(defaultVersion, err)
	}
	if v.Minor > maxMinor {
		v.Minor = maxMinor
	}
	b := &batch{id: o.identityOf(peer, hdr)}
	defer func() {
		for _, s := range b.scrub {
			clear(s)
		}
	}()

	// Header-level refusals fail every item and run nothing.
	var refuse error
	switch {
	case refused != nil:
		refuse = failf(kmip.ResultReasonAuthenticationNotSuccessful, "client not authenticated")
	case hdr.AsynchronousIndicator != nil && *hdr.AsynchronousIndicator:
		refuse = failf(kmip.ResultReasonFeatureNotSupported, "asynchronous operations are not supported")
	case hdr.BatchErrorContinuationOption != nil && *hdr.BatchErrorContinuationOption == kmip.BatchErrorContinuationOptionUndo && len(items) > 1:
		refuse = failf(kmip.ResultReasonFeatureNotSupported, "batch error continuation option Undo is not supported")
	case hdr.BatchErrorContinuationOption != nil && *hdr.BatchErrorContinuationOption > kmip.BatchErrorContinuationOptionUndo:
		refuse = failf(kmip.ResultReasonInvalidField, "unknown batch error continuation option")
	default:
		refuse = o.authenticate(peer, hdr)
	}

	cont := hdr.BatchErrorContinuationOption != nil && *hdr.BatchErrorContinuationOption == kmip.BatchErrorContinuationOptionContinue
	resp := &kmip.ResponseMessage{}
	for i := range items {
		pi := &items[i]
		t0 := time.Now()
		var (
			payload kmip.ResponsePayload
			uid     string
			err     error
		)
		switch {
		case refuse != nil:
			err = refuse
		case pi.err != nil:
			err = pi.err
		case pi.bi.MessageExtension != nil && pi.bi.MessageExtension.CriticalityIndicator:
			err = failf(kmip.ResultReasonFeatureNotSupported, "Critical Message Extension not recognized")
		default:
			payload, uid, err = o.exec(ctx, b, &pi.bi)
		}
		r := resultOf(err)
		ri := kmip.ResponseBatchItem{
			Operation:         pi.bi.Operation,
			UniqueBatchItemID: pi.bi.UniqueBatchItemID,
			ResultStatus:      r.status,
		}
		if err == nil {
			ri.Payload = payload
		} else {
			reason, msg := r.reason, r.message
			ri.ResultReason, ri.ResultMessage = &reason, &msg
		}
		resp.BatchItems = append(resp.BatchItems, ri)
		o.logLine(ctx, peer, pi.bi.Operation, uid, r, err, t0)
		if err != nil && refuse == nil && !cont {
			break
		}
	}
	resp.Header = kmip.ResponseHeader{ProtocolVersion: v, TimeStamp: o.timestamp(), BatchCount: int32(len(resp.BatchItems))}
	out, err := resp.Encode()
	if err != nil {
		o.log.LogAttrs(ctx, slog.LevelError, "kmip: encoding response", slog.String("app", peer.App.Name), slog.String("error", err.Error()))
		return o.failMessage(v, errors.New("encode failed"))
	}
	if lim := hdr.MaximumResponseSize; lim != nil && len(out) > int(*lim) {
		clear(out)
		err := failf(kmip.ResultReasonResponseTooLarge, "Response size: %d, Maximum Response Size indicated in request: %d", len(out), *lim)
		o.logLine(ctx, peer, 0, "", resultOf(err), nil, start)
		return o.failMessage(v, err)
	}
	return out
}

// failMessage returns a response with one failed batch item without
// Operation (a request that could not be run at all).
func (o *Ops) failMessage(v kmip.ProtocolVersion, err error) []byte {
	r := resultOf(err)
	reason, msg := r.reason, r.message
	m := &kmip.ResponseMessage{
		Header: kmip.ResponseHeader{ProtocolVersion: v, TimeStamp: o.timestamp(), BatchCount: 1},
		BatchItems: []kmip.ResponseBatchItem{{
			ResultStatus: kmip.ResultStatusOperationFailed, ResultReason: &reason, ResultMessage: &msg,
		}},
	}
	out, eerr := m.Encode()
	if eerr != nil {
		return nil // cannot happen for this fixed shape; closes the connection
	}
	return out
}

func (o *Ops) timestamp() time.Time { return o.now().UTC().Truncate(time.Second) }

// logLine writes the per-item log line. err's text goes to the log only
// for unclassified (internal) errors; it never holds key material.
func (o *Ops) logLine(ctx context.Context, peer Peer, op kmip.Operation, uid string, r result, err error, start time.Time) {
	attrs := []slog.Attr{
		slog.String("app", peer.App.Name),
		slog.String("remote", addrString(peer)),
		slog.String("op", opName(op)),
		slog.String("uid", uid),
		slog.String("result", r.status.String()),
		slog.Duration("latency", time.Since(start)),
	}
	level := slog.LevelInfo
	if r.status != kmip.ResultStatusSuccess {
		attrs = append(attrs, slog.String("reason", r.reason.String()))
	}
	if r.internal && err != nil {
		level = slog.LevelError
		attrs = append(attrs, slog.String("error", err.Error()))
	}
	o.log.LogAttrs(ctx, level, "kmip request", attrs...)
}

func opName(op kmip.Operation) string {
	if op == 0 {
		return "-"
	}
	return op.String()
}

func addrString(p Peer) string {
	if p.RemoteAddr == nil {
		return ""
	}
	return p.RemoteAddr.String()
}

// identityOf returns the core identity of a request (see the Ops
// contract): the app, or without OpsConfig.Passwords and with a header
// credential, a user within the app. App names never contain a space, so
// "app user:…" and "app device:…" cannot name another app.
func (o *Ops) identityOf(peer Peer, hdr *kmip.RequestHeader) hsm.Identity {
	id := hsm.Identity{Name: peer.App.Name}
	if o.passwords != nil || hdr.Authentication == nil {
		return id
	}
	switch c := hdr.Authentication.Credential.Value.(type) {
	case *kmip.UsernamePasswordCredential:
		id.Name += " user:" + c.Username
	case *kmip.DeviceCredential:
		id.Name += " device:" + deref(c.DeviceSerialNumber) + "/" + deref(c.DeviceIdentifier) + "/" +
			deref(c.NetworkIdentifier) + "/" + deref(c.MachineIdentifier) + "/" + deref(c.MediaIdentifier)
	}
	return id
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// authenticate applies the credential policy (see the Ops contract).
func (o *Ops) authenticate(peer Peer, hdr *kmip.RequestHeader) error {
	if o.passwords == nil {
		return nil
	}
	denied := failf(kmip.ResultReasonAuthenticationNotSuccessful, "authentication not successful")
	if hdr.Authentication == nil {
		has, err := o.passwords.HasPassword(peer.App.Name)
		if err != nil || has {
			return denied
		}
		return nil
	}
	up, ok := hdr.Authentication.Credential.Value.(*kmip.UsernamePasswordCredential)
	if !ok || up.Password == nil || up.Username != peer.App.Name {
		return denied
	}
	if err := o.passwords.CheckPassword(peer.App.Name, *up.Password); err != nil {
		return denied
	}
	return nil
}

// versionOf returns the Protocol Version of a request item when it can be
// read and is one this layer answers, else the default.
func versionOf(it ttlv.Item) kmip.ProtocolVersion {
	h, ok := it.Find(kmip.TagRequestHeader)
	if !ok {
		return defaultVersion
	}
	pv, ok := h.Find(kmip.TagProtocolVersion)
	if !ok {
		return defaultVersion
	}
	ma, ok1 := pv.Find(kmip.TagProtocolVersionMajor)
	mi, ok2 := pv.Find(kmip.TagProtocolVersionMinor)
	if !ok1 || !ok2 {
		return defaultVersion
	}
	major, _ := ma.Value.(int32)
	minor, _ := mi.Value.(int32)
	if major != 1 || minor < 0 || minor > maxMinor {
		return defaultVersion
	}
	return kmip.ProtocolVersion{Major: major, Minor: minor}
}

// parseRequest parses a request item. When the message parses, every item
// is returned. When only some batch items are malformed (and the header
// and framing are sound), those items carry their error, with the
// Operation and Unique Batch Item ID that could be read, so that the
// other items still run. Anything else is an error for the whole message.
func parseRequest(it ttlv.Item) (*kmip.RequestHeader, []parsedItem, error) {
	m, err := kmip.RequestMessageFromTTLV(it)
	if err == nil {
		items := make([]parsedItem, len(m.BatchItems))
		for i := range m.BatchItems {
			items[i].bi = m.BatchItems[i]
		}
		return &m.Header, items, nil
	}
	whole := err
	if it.Tag != kmip.TagRequestMessage || it.Type != ttlv.TypeStructure {
		return nil, nil, whole
	}
	children := it.Items()
	if len(children) < 2 || children[0].Tag != kmip.TagRequestHeader || children[0].Type != ttlv.TypeStructure {
		return nil, nil, whole
	}
	for _, c := range children[1:] {
		if c.Tag != kmip.TagBatchItem || c.Type != ttlv.TypeStructure {
			return nil, nil, whole
		}
	}
	// The header alone, with a Batch Count of 1 and a trivial item.
	hItems := append([]ttlv.Item(nil), children[0].Items()...)
	countAt := -1
	for i, c := range hItems {
		if c.Tag == kmip.TagBatchCount {
			countAt = i
		}
	}
	if countAt < 0 {
		return nil, nil, whole
	}
	count, _ := hItems[countAt].Value.(int32)
	if int(count) != len(children)-1 {
		return nil, nil, whole
	}
	hItems[countAt] = ttlv.Int(kmip.TagBatchCount, 1)
	hdr1 := ttlv.Struct(kmip.TagRequestHeader, hItems...)
	probe := ttlv.Struct(kmip.TagBatchItem,
		ttlv.Enum(kmip.TagOperation, uint32(kmip.OperationDiscoverVersions)),
		ttlv.Struct(kmip.TagRequestPayload))
	hm, err := kmip.RequestMessageFromTTLV(ttlv.Struct(kmip.TagRequestMessage, hdr1, probe))
	if err != nil {
		return nil, nil, whole
	}
	hdr := hm.Header
	hdr.BatchCount = count
	items := make([]parsedItem, 0, len(children)-1)
	for _, c := range children[1:] {
		one, err := kmip.RequestMessageFromTTLV(ttlv.Struct(kmip.TagRequestMessage, hdr1, c))
		if err == nil {
			items = append(items, parsedItem{bi: one.BatchItems[0]})
			continue
		}
		var pi parsedItem
		pi.err = err
		if op, ok := c.Find(kmip.TagOperation); ok && op.Type == ttlv.TypeEnumeration {
			v, _ := op.Value.(uint32)
			pi.bi.Operation = kmip.Operation(v)
		}
		if id, ok := c.Find(kmip.TagUniqueBatchItemID); ok && id.Type == ttlv.TypeByteString {
			pi.bi.UniqueBatchItemID, _ = id.Value.([]byte)
		}
		items = append(items, pi)
	}
	return &hdr, items, nil
}

// exec runs one parsed batch item and returns its payload and the UID it
// concerns (for the log).
func (o *Ops) exec(ctx context.Context, b *batch, bi *kmip.RequestBatchItem) (kmip.ResponsePayload, string, error) {
	if err := ctx.Err(); err != nil {
		return nil, "", err
	}
	switch p := bi.Payload.(type) {
	case *kmip.DiscoverVersionsRequest:
		return o.discoverVersions(p), "", nil
	case *kmip.QueryRequest:
		return o.query(p)
	case *kmip.CreateRequest:
		return o.create(ctx, b, p)
	case *kmip.CreateKeyPairRequest:
		return o.createKeyPair(ctx, b, p)
	case *kmip.RegisterRequest:
		return o.register(ctx, b, p)
	case *kmip.ReKeyRequest:
		return o.reKey(ctx, b, p)
	case *kmip.ReKeyKeyPairRequest:
		return o.reKeyKeyPair(ctx, b, p)
	case *kmip.GetRequest:
		return o.get(ctx, b, p)
	case *kmip.GetAttributesRequest:
		return o.getAttributes(ctx, b, p)
	case *kmip.GetAttributeListRequest:
		return o.getAttributeList(ctx, b, p)
	case *kmip.AddAttributeRequest:
		return o.addAttribute(ctx, b, p)
	case *kmip.ModifyAttributeRequest:
		return o.modifyAttribute(ctx, b, p)
	case *kmip.DeleteAttributeRequest:
		return o.deleteAttribute(ctx, b, p)
	case *kmip.ActivateRequest:
		return o.activate(ctx, b, p)
	case *kmip.RevokeRequest:
		return o.revoke(ctx, b, p)
	case *kmip.DestroyRequest:
		return o.destroy(ctx, b, p)
	case *kmip.LocateRequest:
		return o.locate(ctx, b, p)
	case *kmip.CheckRequest:
		return o.check(ctx, b, p)
	case *kmip.ObtainLeaseRequest:
		return o.obtainLease(ctx, b, p)
	case *kmip.GetUsageAllocationRequest:
		return o.getUsageAllocation(ctx, b, p)
	}
	return nil, "", unsupported(bi.Operation)
}

// unsupported is the result for an operation this server does not
// implement: Operation Not Supported [S 11.1], which is what KMIP 1.1
// requires for the optional operations (Archive, Recover, Poll, Cancel,
// Certify, Re-certify, Validate, Derive Key) and for server-to-client
// operations (Notify, Put) sent to a server.
func unsupported(op kmip.Operation) error {
	return failf(kmip.ResultReasonOperationNotSupported, "operation %s is not supported", opNameOrValue(op))
}

func opNameOrValue(op kmip.Operation) string {
	if op == 0 {
		return "0"
	}
	return fmt.Sprint(op)
}

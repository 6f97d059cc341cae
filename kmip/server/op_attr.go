package server

import (
	"context"

	"github.com/cofferhsm/coffer/hsm/object"
	"github.com/cofferhsm/coffer/kmip"
)

// getAttributes answers Get Attributes [S 4.12]: the named attributes the
// object has (absent ones are left out), or all of them when no name is
// given. A name given twice is Invalid Field (as TC 17.1 expects).
func (o *Ops) getAttributes(ctx context.Context, b *batch, p *kmip.GetAttributesRequest) (kmip.ResponsePayload, string, error) {
	uid, err := b.use(p.UniqueIdentifier)
	if err != nil {
		return nil, "", err
	}
	if len(p.AttributeNames) > maxAttrsPerRequest {
		return nil, uid, failf(kmip.ResultReasonInvalidMessage, "too many attribute names")
	}
	seen := make(map[string]bool, len(p.AttributeNames))
	for _, n := range p.AttributeNames {
		if seen[n] {
			return nil, uid, failf(kmip.ResultReasonInvalidField, "Attribute Name specified more than once: %.64s", n)
		}
		seen[n] = true
	}
	attrs, err := o.core.GetAttributes(ctx, b.id, uid, p.AttributeNames)
	if err != nil {
		return nil, uid, err
	}
	return &kmip.GetAttributesResponse{UniqueIdentifier: uid, Attributes: wireAttrs(attrs)}, uid, nil
}

// getAttributeList answers Get Attribute List [S 4.13].
func (o *Ops) getAttributeList(ctx context.Context, b *batch, p *kmip.GetAttributeListRequest) (kmip.ResponsePayload, string, error) {
	uid, err := b.use(p.UniqueIdentifier)
	if err != nil {
		return nil, "", err
	}
	names, err := o.core.GetAttributeList(ctx, b.id, uid)
	if err != nil {
		return nil, uid, err
	}
	return &kmip.GetAttributeListResponse{UniqueIdentifier: uid, AttributeNames: names}, uid, nil
}

// addAttribute answers Add Attribute [S 4.14]. The client may not choose
// the index (a non-zero Attribute Index is Invalid Field); the response
// carries the index the server assigned.
func (o *Ops) addAttribute(ctx context.Context, b *batch, p *kmip.AddAttributeRequest) (kmip.ResponsePayload, string, error) {
	uid, err := b.use(p.UniqueIdentifier)
	if err != nil {
		return nil, "", err
	}
	if p.Attribute.Index != nil && *p.Attribute.Index != 0 {
		return nil, uid, failf(kmip.ResultReasonInvalidField, "Add Attribute takes no Attribute Index")
	}
	a, err := coreAttr(p.Attribute)
	if err != nil {
		return nil, uid, err
	}
	added, err := o.core.AddAttribute(ctx, b.id, uid, a)
	if err != nil {
		return nil, uid, err
	}
	return &kmip.AddAttributeResponse{UniqueIdentifier: uid, Attribute: echoAttr(added, p.Attribute)}, uid, nil
}

// modifyAttribute answers Modify Attribute [S 4.15] on the instance given
// by Attribute Index (default 0).
func (o *Ops) modifyAttribute(ctx context.Context, b *batch, p *kmip.ModifyAttributeRequest) (kmip.ResponsePayload, string, error) {
	uid, err := b.use(p.UniqueIdentifier)
	if err != nil {
		return nil, "", err
	}
	a, err := coreAttr(p.Attribute)
	if err != nil {
		return nil, uid, err
	}
	mod, err := o.core.ModifyAttribute(ctx, b.id, uid, a)
	if err != nil {
		return nil, uid, err
	}
	return &kmip.ModifyAttributeResponse{UniqueIdentifier: uid, Attribute: echoAttr(mod, p.Attribute)}, uid, nil
}

// deleteAttribute answers Delete Attribute [S 4.16] (index default 0).
func (o *Ops) deleteAttribute(ctx context.Context, b *batch, p *kmip.DeleteAttributeRequest) (kmip.ResponsePayload, string, error) {
	uid, err := b.use(p.UniqueIdentifier)
	if err != nil {
		return nil, "", err
	}
	idx := 0
	if p.AttributeIndex != nil {
		idx = int(*p.AttributeIndex)
	}
	del, err := o.core.DeleteAttribute(ctx, b.id, uid, p.AttributeName, idx)
	if err != nil {
		return nil, uid, err
	}
	w, ok := wireAttr(del)
	if !ok {
		return nil, uid, failf(kmip.ResultReasonGeneralFailure, "deleted attribute has no wire form")
	}
	return &kmip.DeleteAttributeResponse{UniqueIdentifier: uid, Attribute: w}, uid, nil
}

// echoAttr returns the stored attribute in wire form; if the stored value
// has no wire form, the client's value with the stored index.
func echoAttr(stored object.Attribute, sent kmip.Attribute) kmip.Attribute {
	if w, ok := wireAttr(stored); ok {
		return w
	}
	sent.Index = nil
	if stored.Index != 0 {
		i := int32(stored.Index)
		sent.Index = &i
	}
	return sent
}

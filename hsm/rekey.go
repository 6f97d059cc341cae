package hsm

import (
	"context"
	"fmt"
	"time"

	"github.com/cofferhsm/coffer/hsm/key"
	"github.com/cofferhsm/coffer/hsm/object"
)

// carried lists the attributes a replacement key inherits (KMIP 1.1 4.4
// and 4.5). Names move from the old key to the new one.
var carried = []string{
	object.AttrAlgorithm, object.AttrLength, object.AttrParams, object.AttrUsageMask,
	object.AttrPolicyName, object.AttrObjectGroup, object.AttrAppInfo, object.AttrContactInfo,
}

// inherit copies the carried and custom client attributes of old into n,
// moves old's names to n and sets n's dates from offset: with offset >= 0
// the Activation Date becomes now+offset and the old key's Process Start,
// Protect Stop and Deactivation Dates keep their distance to it.
func inherit(n, old *object.Object, now time.Time, offset time.Duration) error {
	for _, a := range old.Attrs {
		isCarried := object.IsCustom(a.Name) && a.Name[0] == 'x'
		for _, c := range carried {
			isCarried = isCarried || a.Name == c
		}
		if !isCarried {
			continue
		}
		if _, err := n.Add(a.Name, a.Value); err != nil {
			if err2 := n.Set(a.Name, a.Value); err2 != nil {
				return err
			}
		}
	}
	for _, a := range old.All(object.AttrName) {
		if _, err := n.Add(object.AttrName, a.Value); err != nil {
			return err
		}
	}
	for len(old.All(object.AttrName)) > 0 {
		if _, err := old.Remove(object.AttrName, old.All(object.AttrName)[0].Index); err != nil {
			return err
		}
	}
	if offset < 0 {
		return nil
	}
	act := now.Add(offset)
	oldAct := old.Date(object.AttrActivationDate)
	if err := n.Set(object.AttrActivationDate, act); err != nil {
		return err
	}
	for _, name := range []string{object.AttrProcessStartDate, object.AttrProtectStopDate, object.AttrDeactivationDate} {
		if d := old.Date(name); !d.IsZero() && !oldAct.IsZero() {
			if err := n.Set(name, act.Add(d.Sub(oldAct))); err != nil {
				return err
			}
		}
	}
	return nil
}

func link(from, to *object.Object, t object.LinkType) error {
	_, err := from.Add(object.AttrLink, object.Link{Type: t, ID: to.UID})
	return err
}

// ReKey replaces a symmetric key with a new one of the same algorithm and
// length (KMIP Re-key). The new key inherits the old one's attributes and
// names (attrs may add to them) and the two are linked both ways: the old
// key gets a Replacement Object Link, the new one a Replaced Object Link.
// offset < 0 means no Offset: the new key's dates come from attrs only.
// Both records are written atomically.
func (c *Core) ReKey(ctx context.Context, id Identity, uid string, offset time.Duration, attrs []object.Attribute) (newUID string, err error) {
	defer func() { err = c.finish(ctx, id, "ReKey", err, false, uid, newUID) }()
	if err := checkIdentity(id); err != nil {
		return "", err
	}
	defer c.lock(uid)()
	old, err := c.load(ctx, id, uid)
	if err != nil {
		return "", err
	}
	defer old.Destroy()
	now := c.clock()
	old.Settle(now)
	if old.Type != object.TypeSymmetricKey {
		return "", fmt.Errorf("hsm: re-key object type %d: %w", old.Type, ErrNotSupported)
	}
	if old.Destroyed(now) {
		return "", fmt.Errorf("hsm: re-key destroyed object %q: %w", uid, ErrWrongState)
	}
	n, err := c.newObject(ctx, id, object.TypeSymmetricKey, now, nil)
	if err != nil {
		return "", err
	}
	defer n.Destroy()
	if err := inherit(n, old, now, offset); err != nil {
		return "", fmt.Errorf("hsm: re-key: %w", err)
	}
	if err := applyClientAttrs(n, attrs); err != nil {
		return "", fmt.Errorf("hsm: re-key: %w", err)
	}
	alg, _ := attrValue[object.Algorithm](n, object.AttrAlgorithm)
	bits, _ := attrValue[int32](n, object.AttrLength)
	nb, err := symmetricBits(alg, bits)
	if err != nil {
		return "", fmt.Errorf("hsm: re-key: %w", err)
	}
	var m *key.Material
	if alg == object.Alg3DES {
		m, err = key.GenerateDES3(c.rand)
	} else {
		m, err = key.GenerateSymmetric(c.rand, nb)
	}
	if err != nil {
		return "", fmt.Errorf("hsm: re-key: %w", err)
	}
	n.Secret, n.Format = m, object.FormatRaw
	if err := setDigest(n); err != nil {
		return "", err
	}
	if err := link(old, n, object.LinkReplacement); err != nil {
		return "", err
	}
	if err := link(n, old, object.LinkReplaced); err != nil {
		return "", err
	}
	if err := c.save(ctx, now, old, n); err != nil {
		return "", err
	}
	return n.UID, nil
}

// ReKeyKeyPair replaces a key pair (KMIP Re-key Key Pair), given the old
// private key: a new pair of the same algorithm and size inherits the old
// halves' attributes and names, and each new half is linked both ways to
// the half it replaces. offset as for ReKey. All four records are written
// atomically.
func (c *Core) ReKeyKeyPair(ctx context.Context, id Identity, privUID string, offset time.Duration, common, privAttrs, pubAttrs []object.Attribute) (newPriv, newPub string, err error) {
	defer func() { err = c.finish(ctx, id, "ReKeyKeyPair", err, false, privUID, newPriv, newPub) }()
	if err := checkIdentity(id); err != nil {
		return "", "", err
	}
	oldPriv, err := c.load(ctx, id, privUID)
	if err != nil {
		return "", "", err
	}
	oldPriv.Destroy()
	var pubUID string
	for _, a := range oldPriv.All(object.AttrLink) {
		if l := a.Value.(object.Link); l.Type == object.LinkPublicKey {
			pubUID = l.ID
		}
	}
	if oldPriv.Type != object.TypePrivateKey || pubUID == "" {
		return "", "", fmt.Errorf("hsm: re-key key pair: %q is not a linked private key: %w", privUID, ErrInvalid)
	}
	defer c.lock(privUID, pubUID)()
	if oldPriv, err = c.load(ctx, id, privUID); err != nil {
		return "", "", err
	}
	defer oldPriv.Destroy()
	oldPub, err := c.load(ctx, id, pubUID)
	if err != nil {
		return "", "", err
	}
	now := c.clock()
	oldPriv.Settle(now)
	oldPub.Settle(now)
	if oldPriv.Destroyed(now) {
		return "", "", fmt.Errorf("hsm: re-key destroyed key pair %q: %w", privUID, ErrWrongState)
	}
	pa, pb, err := asymmetric(oldPriv)
	if err != nil {
		return "", "", fmt.Errorf("hsm: re-key key pair: %w", err)
	}
	base := []object.Attribute{
		{Name: object.AttrAlgorithm, Value: pa},
		{Name: object.AttrLength, Value: int32(pb)},
	}
	priv, pub, err := c.newPair(ctx, id, now, base, nil, nil)
	if err != nil {
		return "", "", fmt.Errorf("hsm: re-key key pair: %w", err)
	}
	defer priv.Destroy()
	for _, p := range []struct {
		n, old *object.Object
		attrs  []object.Attribute
	}{{priv, oldPriv, append(append([]object.Attribute(nil), common...), privAttrs...)}, {pub, oldPub, append(append([]object.Attribute(nil), common...), pubAttrs...)}} {
		if err := inherit(p.n, p.old, now, offset); err != nil {
			return "", "", fmt.Errorf("hsm: re-key key pair: %w", err)
		}
		if err := applyClientAttrs(p.n, p.attrs); err != nil {
			return "", "", fmt.Errorf("hsm: re-key key pair: %w", err)
		}
		if err := link(p.old, p.n, object.LinkReplacement); err != nil {
			return "", "", err
		}
		if err := link(p.n, p.old, object.LinkReplaced); err != nil {
			return "", "", err
		}
	}
	if a, b, err := asymmetric(priv); err != nil || a != pa || b != pb {
		return "", "", fmt.Errorf("hsm: re-key key pair: %w: algorithm or length changed", ErrInvalid)
	}
	if err := c.save(ctx, now, oldPriv, oldPub, priv, pub); err != nil {
		return "", "", err
	}
	return priv.UID, pub.UID, nil
}

package hsm

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/cofferhsm/coffer/hsm/object"
	"github.com/cofferhsm/coffer/hsm/store"
)

// Query is a Locate request.
type Query struct {
	// MaxItems bounds the result; 0 means no bound.
	MaxItems int
	// GroupMember selects Object Group members. GroupMemberFresh returns
	// only objects whose Fresh attribute is true, oldest first, so that
	// fresh keys are handed out in creation order. GroupMemberDefault
	// returns the group's default member: the matching object least
	// recently retrieved by Get (never retrieved first, then oldest
	// first), so that Locate + Get serves a group's members round-robin
	// (OASIS TC 15.3). 0 means no selection.
	GroupMember object.GroupMember
	// Attrs must all match. Several instances of one attribute must all
	// be present on the object, except for dates, where two instances give
	// an inclusive range. Cryptographic Usage Mask matches objects whose
	// mask contains every given bit. Custom attributes match by value.
	Attrs []object.Attribute
}

// MaxLocateAttrs bounds the number of filter attributes in a Query.
const MaxLocateAttrs = 64

// Locate returns the UIDs of the objects matching q, newest first (KMIP
// Locate; see Query.GroupMember for the other orders). Objects id may not
// use (see MayUse) are never returned. Destroyed objects are only returned when q names a State.
// Name, Object Type, Object Group and custom text, integer and enumeration
// attributes are answered from the store index; other filters are checked
// on the candidates.
func (c *Core) Locate(ctx context.Context, id Identity, q Query) (uids []string, err error) {
	defer func() { err = c.finish(ctx, id, "Locate", err, false) }()
	if err := checkIdentity(id); err != nil {
		return nil, err
	}
	if q.MaxItems < 0 || len(q.Attrs) > MaxLocateAttrs {
		return nil, fmt.Errorf("hsm: locate: %w: bad maximum items or too many attributes", ErrInvalid)
	}
	var terms []store.Term
	var post []object.Attribute
	dates := map[string][]time.Time{}
	wantState := false
	for _, a := range q.Attrs {
		r, err := object.RuleFor(a.Name)
		if err != nil {
			return nil, fmt.Errorf("hsm: locate: %w", err)
		}
		if object.KindOf(a.Value) == object.KindInvalid || (r.Kind != object.KindInvalid && object.KindOf(a.Value) != r.Kind) {
			return nil, fmt.Errorf("hsm: locate: %w: value of %s", ErrInvalid, a.Name)
		}
		switch {
		case a.Name == object.AttrName && object.Indexed(a.Value.(object.Name).Value):
			terms = append(terms, store.Term{Name: object.TermName, Value: a.Value.(object.Name).Value})
			post = append(post, a)
		case a.Name == object.AttrObjectGroup && object.Indexed(a.Value.(string)):
			terms = append(terms, store.Term{Name: object.TermGroup, Value: a.Value.(string)})
		case a.Name == object.AttrObjectType:
			v, _ := object.EnumValue(a.Value)
			terms = append(terms, store.Term{Name: object.TermType, Value: strconv.FormatUint(uint64(v), 10)})
		case object.IsCustom(a.Name):
			if tv, ok := object.TermValue(a.Value); ok && object.Indexed(tv) {
				terms = append(terms, store.Term{Name: object.TermAttrPrefix + a.Name, Value: tv})
			} else {
				post = append(post, a)
			}
		case r.Kind == object.KindDateTime:
			if len(dates[a.Name]) == 2 {
				return nil, fmt.Errorf("hsm: locate: %w: more than two %s values", ErrInvalid, a.Name)
			}
			dates[a.Name] = append(dates[a.Name], a.Value.(time.Time))
		default:
			if a.Name == object.AttrState {
				wantState = true
			}
			post = append(post, a)
		}
	}
	// Only when every filter is answered by the index can the limit be
	// pushed down to the store.
	exact := len(post) == 0 && len(dates) == 0 && q.GroupMember == 0
	limit := 0
	if exact {
		limit = q.MaxItems
	}
	uids, full, err := c.locate(ctx, id, q, terms, limit, post, dates, wantState)
	if err == nil && limit > 0 && full && len(uids) < limit {
		// The store's limit counted objects id may not use: search again
		// without it.
		uids, _, err = c.locate(ctx, id, q, terms, 0, post, dates, wantState)
	}
	return uids, err
}

// locate filters the store's candidates for terms (at most limit of them,
// 0 = no limit); full reports that the store returned limit candidates.
func (c *Core) locate(ctx context.Context, id Identity, q Query, terms []store.Term, limit int, post []object.Attribute, dates map[string][]time.Time, wantState bool) (uids []string, full bool, err error) {
	cands, err := c.db.Find(ctx, terms, limit)
	if err != nil {
		return nil, false, fmt.Errorf("hsm: locate: %w", err)
	}
	now := c.clock()
	if q.GroupMember != 0 {
		slices.Reverse(cands) // oldest first
	}
	var best *object.Object // GroupMemberDefault: least recently retrieved
	for _, uid := range cands {
		if q.MaxItems > 0 && len(uids) >= q.MaxItems {
			break
		}
		o, err := c.loadRecord(ctx, uid)
		if err != nil {
			return nil, false, err
		}
		ok := MayUse(id, o) && (wantState || !o.Destroyed(now)) && matches(o, now, post, dates, q.GroupMember)
		o.Destroy()
		switch {
		case !ok:
		case q.GroupMember == object.GroupMemberDefault:
			if best == nil || o.Retrieved < best.Retrieved {
				best = o
			}
		default:
			uids = append(uids, uid)
		}
	}
	if best != nil {
		uids = []string{best.UID}
	}
	return uids, limit > 0 && len(cands) >= limit, nil
}

func matches(o *object.Object, now time.Time, post []object.Attribute, dates map[string][]time.Time, gm object.GroupMember) bool {
	if gm == object.GroupMemberFresh {
		if f, _ := attrValue[bool](o, object.AttrFresh); !f {
			return false
		}
	}
	for name, ds := range dates {
		d := o.Date(name)
		if d.IsZero() {
			return false
		}
		lo, hi := ds[0], ds[0]
		if len(ds) == 2 {
			lo, hi = ds[0], ds[1]
			if hi.Before(lo) {
				lo, hi = hi, lo
			}
		}
		if d.Unix() < lo.Unix() || d.Unix() > hi.Unix() {
			return false
		}
	}
	for _, f := range post {
		switch f.Name {
		case object.AttrState:
			if s, _ := object.EnumValue(f.Value); object.State(s) != o.EffectiveState(now) {
				return false
			}
			continue
		case object.AttrUsageMask:
			want, _ := f.Value.(int32)
			if m, _ := attrValue[int32](o, object.AttrUsageMask); m&want != want {
				return false
			}
			continue
		case object.AttrUniqueIdentifier:
			if f.Value != o.UID {
				return false
			}
			continue
		}
		found := false
		for _, a := range o.All(f.Name) {
			if object.Equal(a.Value, f.Value) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

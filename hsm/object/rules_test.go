package object

import (
	"errors"
	"math/big"
	"testing"
	"time"
)

var allStates = []State{StatePreActive, StateActive, StateDeactivated, StateCompromised, StateDestroyed, StateDestroyedCompromised}

func TestAttributeRules(t *testing.T) {
	// set: client may supply at creation; modify: the states in which a
	// client may add/modify; del: client may delete (outside destroyed states).
	live := []State{StatePreActive, StateActive, StateDeactivated, StateCompromised}
	tests := []struct {
		name   string
		set    bool
		modify []State
		del    bool
		multi  bool
	}{
		{AttrUniqueIdentifier, false, nil, false, false},
		{AttrName, true, live, true, true},
		{AttrObjectType, false, nil, false, false},
		{AttrAlgorithm, true, nil, false, false},
		{AttrLength, true, nil, false, false},
		{AttrParams, true, live, true, true},
		{AttrCertificateType, false, nil, false, false},
		{AttrDigest, false, nil, false, true},
		{AttrPolicyName, true, live, true, false},
		{AttrUsageMask, true, nil, false, false},
		{AttrLeaseTime, false, nil, false, false},
		{AttrState, false, nil, false, false},
		{AttrInitialDate, false, nil, false, false},
		{AttrActivationDate, true, []State{StatePreActive}, false, false},
		{AttrProcessStartDate, true, []State{StatePreActive}, false, false},
		{AttrProtectStopDate, true, []State{StatePreActive, StateActive}, false, false},
		{AttrDeactivationDate, true, []State{StatePreActive, StateActive}, false, false},
		{AttrDestroyDate, false, nil, false, false},
		{AttrCompromiseOccurred, false, nil, false, false},
		{AttrCompromiseDate, false, nil, false, false},
		{AttrRevocationReason, false, nil, false, false},
		{AttrArchiveDate, false, nil, false, false},
		{AttrObjectGroup, true, nil, false, true},
		{AttrFresh, true, nil, false, false},
		{AttrLink, true, live, true, true},
		{AttrAppInfo, true, live, true, true},
		{AttrContactInfo, true, live, true, false},
		{AttrLastChangeDate, false, nil, false, false},
		{"x-Vendor", true, live, true, true},
		{"y-Internal", false, nil, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := RuleFor(tt.name)
			if err != nil {
				t.Fatal(err)
			}
			if r.ClientMaySet() != tt.set {
				t.Errorf("ClientMaySet = %v, want %v", r.ClientMaySet(), tt.set)
			}
			if r.Multi != tt.multi {
				t.Errorf("Multi = %v, want %v", r.Multi, tt.multi)
			}
			for _, s := range allStates {
				want := false
				for _, m := range tt.modify {
					want = want || m == s
				}
				if got := r.ClientMayModify(s); got != want {
					t.Errorf("ClientMayModify(%d) = %v, want %v", s, got, want)
				}
				if got := r.ClientMayDelete(s); got != (tt.del && !s.Destroyed()) {
					t.Errorf("ClientMayDelete(%d) = %v, want %v", s, got, tt.del && !s.Destroyed())
				}
			}
		})
	}
}

func TestRuleForUnknown(t *testing.T) {
	for _, n := range []string{"", "x-", "Bogus", "z-thing", "X-upper", "x-" + string(make([]byte, MaxNameLen)), "x-\xff"} {
		if _, err := RuleFor(n); !errors.Is(err, ErrInvalid) {
			t.Errorf("RuleFor(%q) err = %v, want ErrInvalid", n, err)
		}
	}
}

func TestRuleCheckValues(t *testing.T) {
	long := string(make([]byte, MaxTextLen+1))
	tests := []struct {
		name string
		v    any
		ok   bool
	}{
		{AttrAlgorithm, AlgAES, true},
		{AttrAlgorithm, uint32(3), false}, // must be the named enum type
		{AttrAlgorithm, "AES", false},
		{AttrLength, int32(256), true},
		{AttrLength, int32(0), false},
		{AttrLength, int64(256), false},
		{AttrUsageMask, UsageMaskCrypto, true},
		{AttrUsageMask, int32(0x100000), false},
		{AttrState, StateActive, true},
		{AttrState, State(7), false},
		{AttrName, Name{Value: "k", Type: NameText}, true},
		{AttrName, Name{Value: "", Type: NameText}, false},
		{AttrName, Name{Value: "k", Type: 9}, false},
		{AttrName, Name{Value: long, Type: NameText}, false},
		{AttrActivationDate, time.Unix(10, 0), true},
		{AttrActivationDate, time.Time{}, false},
		{AttrLink, Link{Type: LinkReplaced, ID: "u"}, true},
		{AttrLink, Link{Type: 1, ID: "u"}, false},
		{AttrObjectGroup, "g", true},
		{AttrObjectGroup, "", false},
		{"x-Text", "\xff", false},
		{"x-Bytes", make([]byte, MaxBytesLen+1), false},
		{"x-Big", big.NewInt(5), true},
		{"x-Interval", 1500 * time.Millisecond, false},
		{"x-Float", 1.5, false},
		{"x-Int", 5, false}, // plain int is not a KMIP type
		{AttrRevocationReason, RevocationReason{Code: 99}, false},
	}
	for _, tt := range tests {
		r, err := RuleFor(tt.name)
		if err != nil {
			t.Fatal(err)
		}
		err = r.Check(tt.v)
		if (err == nil) != tt.ok {
			t.Errorf("%s = %#v: err = %v, want ok=%v", tt.name, tt.v, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalid) {
			t.Errorf("%s: err = %v, want ErrInvalid", tt.name, err)
		}
	}
}

func TestObjectAttributeInstances(t *testing.T) {
	o := &Object{UID: "u", Type: TypeSymmetricKey}
	for i, n := range []string{"a", "b", "c"} {
		a, err := o.Add(AttrName, Name{Value: n, Type: NameText})
		if err != nil || a.Index != i {
			t.Fatalf("Add %s = %+v, %v; want index %d", n, a, err, i)
		}
	}
	if _, err := o.Remove(AttrName, 1); err != nil {
		t.Fatal(err)
	}
	// Indices are not reused while a higher one exists.
	if a, _ := o.Add(AttrName, Name{Value: "d", Type: NameText}); a.Index != 3 {
		t.Errorf("index after delete = %d, want 3", a.Index)
	}
	if _, err := o.Remove(AttrName, 1); !errors.Is(err, ErrNotFound) {
		t.Errorf("remove missing instance: %v", err)
	}
	if _, err := o.Replace(AttrName, 7, Name{Value: "z", Type: NameText}); !errors.Is(err, ErrNotFound) {
		t.Errorf("replace missing instance: %v", err)
	}
	if err := o.Set(AttrContactInfo, "me"); err != nil {
		t.Fatal(err)
	}
	if _, err := o.Add(AttrContactInfo, "you"); !errors.Is(err, ErrIllegal) {
		t.Errorf("second single instance: err = %v, want ErrIllegal", err)
	}
	for i := len(o.Attrs); i < MaxAttrs; i++ {
		if _, err := o.Add("x-n", int32(i)); err != nil {
			t.Fatalf("attribute %d: %v", i, err)
		}
	}
	if _, err := o.Add("x-n", int32(0)); !errors.Is(err, ErrIllegal) {
		t.Errorf("attribute beyond MaxAttrs: err = %v, want ErrIllegal", err)
	}
}

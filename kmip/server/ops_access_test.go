package server

import (
	"testing"

	"github.com/cofferhsm/coffer/hsm/auth"
	"github.com/cofferhsm/coffer/kmip"
)

// TestAccessControl: another app, or another user of the same app named by
// an unverified header credential, gets Permission Denied on an object
// and does not find it with Locate; the owner keeps full use.
func TestAccessControl(t *testing.T) {
	e := newTestEnv(t, nil)
	withCred := func(c kmip.CredentialValue, items ...kmip.RequestBatchItem) *kmip.RequestMessage {
		m := msg(items...)
		if c != nil {
			m.Header.Authentication = &kmip.Authentication{Credential: kmip.Credential{Type: c.CredentialType(), Value: c}}
		}
		return m
	}
	fred := &kmip.UsernamePasswordCredential{Username: "Fred", Password: ptr("password1")}
	barney := &kmip.UsernamePasswordCredential{Username: "Barney", Password: ptr("secret2")}
	dev := &kmip.DeviceCredential{DeviceSerialNumber: ptr("serNum123456"), DeviceIdentifier: ptr("devID2233")}

	tests := []struct {
		name   string
		owner  kmip.CredentialValue
		other  kmip.CredentialValue
		peer   string // app of the other request; "" = same app
		denied bool
	}{
		{"other app", nil, nil, "intruder", true},
		{"other user", fred, barney, "", true},
		{"app without credential vs its user", fred, nil, "", true},
		{"device vs user", dev, fred, "", true},
		{"same user", fred, fred, "", false},
		{"same device", dev, dev, "", false},
		{"same app", nil, nil, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := e.roundTrip(t, withCred(tt.owner, item(&kmip.CreateRequest{ObjectType: kmip.ObjectTypeSymmetricKey, TemplateAttribute: aesTemplate(
				kmip.Attribute{Name: kmip.AttributeName, Value: &kmip.Name{Value: "acl-" + tt.name, Type: kmip.NameTypeUninterpretedTextString}})})))
			if r.BatchItems[0].ResultStatus != kmip.ResultStatusSuccess {
				t.Fatalf("Create: %s %s", reasonOf(r.BatchItems[0]), messageOf(r.BatchItems[0]))
			}
			uid := r.BatchItems[0].Payload.(*kmip.CreateResponse).UniqueIdentifier

			other := *e
			if tt.peer != "" {
				other.peer = Peer{App: auth.App{Name: tt.peer}}
			}
			m := withCred(tt.other,
				item(&kmip.GetRequest{UniqueIdentifier: uid}),
				item(&kmip.GetAttributeListRequest{UniqueIdentifier: uid}),
				item(&kmip.LocateRequest{Attributes: []kmip.Attribute{{Name: kmip.AttributeName, Value: &kmip.Name{Value: "acl-" + tt.name, Type: kmip.NameTypeUninterpretedTextString}}}}))
			m.Header.BatchErrorContinuationOption = ptr(kmip.BatchErrorContinuationOptionContinue)
			r = other.roundTrip(t, m)
			if len(r.BatchItems) != 3 {
				t.Fatalf("%d items", len(r.BatchItems))
			}
			for _, bi := range r.BatchItems[:2] {
				if tt.denied {
					checkFailed(t, bi, kmip.ResultReasonPermissionDenied)
				} else if bi.ResultStatus != kmip.ResultStatusSuccess {
					t.Errorf("%s by the owner: %s %s", bi.Operation, reasonOf(bi), messageOf(bi))
				}
			}
			loc := r.BatchItems[2].Payload.(*kmip.LocateResponse)
			if found := len(loc.UniqueIdentifiers) == 1 && loc.UniqueIdentifiers[0] == uid; found == tt.denied || len(loc.UniqueIdentifiers) > 1 {
				t.Errorf("Locate = %v (denied %v)", loc.UniqueIdentifiers, tt.denied)
			}
		})
	}
}

package server

import (
	"context"
	"errors"
	"time"

	"github.com/cofferhsm/coffer/hsm"
	"github.com/cofferhsm/coffer/hsm/object"
	"github.com/cofferhsm/coffer/kmip"
)

// maxLocateResults bounds a Locate answer when the client gives no
// Maximum Items (it keeps the response far below the message size limit).
const maxLocateResults = 10000

func (o *Ops) activate(ctx context.Context, b *batch, p *kmip.ActivateRequest) (kmip.ResponsePayload, string, error) {
	uid, err := b.use(p.UniqueIdentifier)
	if err != nil {
		return nil, "", err
	}
	if err := o.core.Activate(ctx, b.id, uid); err != nil {
		return nil, uid, err
	}
	return &kmip.ActivateResponse{UniqueIdentifier: uid}, uid, nil
}

func (o *Ops) revoke(ctx context.Context, b *batch, p *kmip.RevokeRequest) (kmip.ResponsePayload, string, error) {
	uid, err := b.use(p.UniqueIdentifier)
	if err != nil {
		return nil, "", err
	}
	reason := object.RevocationReason{Code: object.RevocationReasonCode(p.RevocationReason.Code)}
	if p.RevocationReason.Message != nil {
		reason.Message = *p.RevocationReason.Message
	}
	var occurred time.Time
	if p.CompromiseOccurrenceDate != nil {
		occurred = p.CompromiseOccurrenceDate.UTC()
	}
	if err := o.core.Revoke(ctx, b.id, uid, reason, occurred); err != nil {
		return nil, uid, err
	}
	return &kmip.RevokeResponse{UniqueIdentifier: uid}, uid, nil
}

func (o *Ops) destroy(ctx context.Context, b *batch, p *kmip.DestroyRequest) (kmip.ResponsePayload, string, error) {
	uid, err := b.use(p.UniqueIdentifier)
	if err != nil {
		return nil, "", err
	}
	if err := o.core.Destroy(ctx, b.id, uid); err != nil {
		return nil, uid, err
	}
	return &kmip.DestroyResponse{UniqueIdentifier: uid}, uid, nil
}

// locate answers Locate [S 4.9]. Coffer has on-line storage only: a
// Storage Status Mask without On-line Storage finds nothing. It sets the
// ID Placeholder when exactly one object is found, and clears it
// otherwise. Results are in the core's order (hsm.Query): newest first;
// Object Group Member Fresh: oldest fresh object first; Default: the
// group's least recently retrieved member (round-robin with Get). Objects
// of other owners are never found.
func (o *Ops) locate(ctx context.Context, b *batch, p *kmip.LocateRequest) (kmip.ResponsePayload, string, error) {
	q := hsm.Query{MaxItems: maxLocateResults}
	limit := maxLocateResults
	if p.MaximumItems != nil {
		if *p.MaximumItems < 0 {
			return nil, "", failf(kmip.ResultReasonInvalidField, "negative Maximum Items")
		}
		if *p.MaximumItems > 0 && *p.MaximumItems < maxLocateResults {
			limit = int(*p.MaximumItems)
		}
	}
	if p.ObjectGroupMember != nil {
		q.GroupMember = object.GroupMember(*p.ObjectGroupMember)
	}
	q.MaxItems = limit
	attrs, err := coreAttrs(p.Attributes)
	if err != nil {
		return nil, "", err
	}
	q.Attrs = attrs
	resp := &kmip.LocateResponse{}
	if m := p.StorageStatusMask; m != nil && *m&kmip.StorageStatusMaskOnLineStorage == 0 {
		return resp, "", nil
	}
	uids, err := o.core.Locate(ctx, b.id, q)
	if err != nil {
		return nil, "", err
	}
	resp.UniqueIdentifiers = uids
	uid := ""
	b.placeholder = "" // a Locate that finds no single object clears it
	if len(uids) == 1 {
		uid = uids[0]
		b.placeholder = uid
	}
	return resp, uid, nil
}

// check answers Check [S 4.10]. Usage Limits Count and Lease Time are
// accepted as is (Check does not consume usage: Get Usage Allocation
// does); the Cryptographic Usage Mask must be allowed by the object's. A
// failed check is Permission Denied.
func (o *Ops) check(ctx context.Context, b *batch, p *kmip.CheckRequest) (kmip.ResponsePayload, string, error) {
	uid, err := b.use(p.UniqueIdentifier)
	if err != nil {
		return nil, "", err
	}
	var usage int32
	if p.CryptographicUsageMask != nil {
		usage = int32(uint32(*p.CryptographicUsageMask))
	}
	if p.UsageLimitsCount != nil && *p.UsageLimitsCount < 0 {
		return nil, uid, failf(kmip.ResultReasonInvalidField, "negative Usage Limits Count")
	}
	if err := o.core.Check(ctx, b.id, uid, usage); err != nil {
		return nil, uid, err
	}
	return &kmip.CheckResponse{UniqueIdentifier: uid}, uid, nil
}

// leaseInfo returns the object's state and Last Change Date and the
// Lease Time attribute (0 when absent).
func (o *Ops) leaseInfo(ctx context.Context, b *batch, uid string) (object.State, time.Time, time.Duration, error) {
	attrs, err := o.core.GetAttributes(ctx, b.id, uid, []string{object.AttrState, object.AttrLastChangeDate, object.AttrLeaseTime})
	if err != nil {
		return 0, time.Time{}, 0, err
	}
	var (
		st    object.State
		last  time.Time
		lease time.Duration
	)
	for _, a := range attrs {
		switch v := a.Value.(type) {
		case object.State:
			st = v
		case time.Time:
			last = v
		case time.Duration:
			lease = v
		}
	}
	return st, last, lease, nil
}

// obtainLease answers Obtain Lease [S 4.17]: only an Active object gets a
// lease (Permission Denied otherwise); the lease is the object's Lease
// Time attribute or OpsConfig.LeaseTime (0 by default).
func (o *Ops) obtainLease(ctx context.Context, b *batch, p *kmip.ObtainLeaseRequest) (kmip.ResponsePayload, string, error) {
	uid, err := b.use(p.UniqueIdentifier)
	if err != nil {
		return nil, "", err
	}
	st, last, lease, err := o.leaseInfo(ctx, b, uid)
	if err != nil {
		return nil, uid, err
	}
	if st != object.StateActive {
		return nil, uid, failf(kmip.ResultReasonPermissionDenied, "object is not Active, no lease given")
	}
	if lease == 0 {
		lease = o.lease
	}
	return &kmip.ObtainLeaseResponse{UniqueIdentifier: uid, LeaseTime: uint32(lease / time.Second), LastChangeDate: last}, uid, nil
}

// getUsageAllocation answers Get Usage Allocation [S 4.18] through the
// core: an Active object is granted the count when its Usage Limits allow
// it (they are then reduced; an object without Usage Limits grants any
// count). Otherwise Permission Denied "Unable to allocate requested
// amount" (also for a non-Active object).
func (o *Ops) getUsageAllocation(ctx context.Context, b *batch, p *kmip.GetUsageAllocationRequest) (kmip.ResponsePayload, string, error) {
	uid, err := b.use(p.UniqueIdentifier)
	if err != nil {
		return nil, "", err
	}
	if p.UsageLimitsCount <= 0 {
		return nil, uid, failf(kmip.ResultReasonInvalidField, "Usage Limits Count must be positive")
	}
	err = o.core.GetUsageAllocation(ctx, b.id, uid, p.UsageLimitsCount)
	if errors.Is(err, hsm.ErrWrongState) || errors.Is(err, hsm.ErrPermission) {
		return nil, uid, failf(kmip.ResultReasonPermissionDenied, "Unable to allocate requested amount")
	}
	if err != nil {
		return nil, uid, err
	}
	return &kmip.GetUsageAllocationResponse{UniqueIdentifier: uid}, uid, nil
}

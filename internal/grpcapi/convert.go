package grpcapi

import (
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/paymentcompletion/paymentcompletion/amazonpay"
	pb "github.com/paymentcompletion/paymentcompletion/gen/paymentcompletion/v1"
	"github.com/paymentcompletion/paymentcompletion/internal/payment"
)

func moneyFromProto(m *pb.Money) payment.Money {
	return payment.Money{Amount: m.GetAmount(), CurrencyCode: m.GetCurrencyCode()}
}

func moneyToProto(m payment.Money) *pb.Money {
	return &pb.Money{Amount: m.Amount, CurrencyCode: m.CurrencyCode}
}

func priceToProto(p *amazonpay.Price) *pb.Money {
	if p == nil || (p.Amount == "" && p.CurrencyCode == "") {
		return nil
	}
	return &pb.Money{Amount: p.Amount, CurrencyCode: p.CurrencyCode}
}

func timeToProto(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// outcomes maps the domain's outcomes; an attempt still in flight is shown as
// unknown (its answer is not known yet).
var outcomes = map[payment.Outcome]pb.Outcome{
	payment.Completing: pb.Outcome_OUTCOME_UNKNOWN,
	payment.Unknown:    pb.Outcome_OUTCOME_UNKNOWN,
	payment.Pending:    pb.Outcome_OUTCOME_PENDING,
	payment.Completed:  pb.Outcome_OUTCOME_COMPLETED,
	payment.Declined:   pb.Outcome_OUTCOME_DECLINED,
	payment.Canceled:   pb.Outcome_OUTCOME_CANCELED,
}

// outcomesFromProto maps an outcome a caller lists by to the domain's
// outcomes it stands for: unknown includes attempts still in flight, which
// callers see as unknown.
var outcomesFromProto = map[pb.Outcome][]payment.Outcome{
	pb.Outcome_OUTCOME_UNKNOWN:   {payment.Completing, payment.Unknown},
	pb.Outcome_OUTCOME_PENDING:   {payment.Pending},
	pb.Outcome_OUTCOME_COMPLETED: {payment.Completed},
	pb.Outcome_OUTCOME_DECLINED:  {payment.Declined},
	pb.Outcome_OUTCOME_CANCELED:  {payment.Canceled},
}

var chargeStates = map[string]pb.ChargeState{
	payment.ChargeAuthorizationInitiated: pb.ChargeState_CHARGE_STATE_AUTHORIZATION_INITIATED,
	payment.ChargeAuthorized:             pb.ChargeState_CHARGE_STATE_AUTHORIZED,
	payment.ChargeCaptureInitiated:       pb.ChargeState_CHARGE_STATE_CAPTURE_INITIATED,
	payment.ChargeCaptured:               pb.ChargeState_CHARGE_STATE_CAPTURED,
	payment.ChargeCanceled:               pb.ChargeState_CHARGE_STATE_CANCELED,
	payment.ChargeDeclined:               pb.ChargeState_CHARGE_STATE_DECLINED,
}

var permissionStates = map[string]pb.ChargePermissionState{
	amazonpay.ChargePermissionStateChargeable:    pb.ChargePermissionState_CHARGE_PERMISSION_STATE_CHARGEABLE,
	amazonpay.ChargePermissionStateNonChargeable: pb.ChargePermissionState_CHARGE_PERMISSION_STATE_NON_CHARGEABLE,
	amazonpay.ChargePermissionStateClosed:        pb.ChargePermissionState_CHARGE_PERMISSION_STATE_CLOSED,
}

var permissionTypes = map[string]pb.ChargePermissionType{
	amazonpay.ChargePermissionTypeOneTime:             pb.ChargePermissionType_CHARGE_PERMISSION_TYPE_ONE_TIME,
	amazonpay.ChargePermissionTypeRecurring:           pb.ChargePermissionType_CHARGE_PERMISSION_TYPE_RECURRING,
	amazonpay.ChargePermissionTypePaymentMethodOnFile: pb.ChargePermissionType_CHARGE_PERMISSION_TYPE_PAYMENT_METHOD_ON_FILE,
}

// paymentToProto is p as answered by a service running in mode.
func paymentToProto(p payment.Payment, mode pb.AmazonPayMode) *pb.Payment {
	out := &pb.Payment{
		AmazonPayMode:      mode,
		CheckoutSessionId:  p.CheckoutSessionID,
		OrderId:            p.OrderID,
		Outcome:            outcomes[p.Outcome],
		ChargePermissionId: p.ChargePermissionID,
		ChargeId:           p.ChargeID,
		ChargeAmount:       moneyToProto(p.ChargeAmount),
		ReasonCode:         p.ReasonCode,
		ChargeState:        chargeStates[p.ChargeState],
		CreateTime:         timeToProto(p.CreateTime),
		UpdateTime:         timeToProto(p.UpdateTime),
		SettleTime:         timeToProto(p.SettleTime),
		CheckAttempts:      int32(min(p.CheckAttempts, 1<<31-1)), //nolint:gosec // bounded above
	}
	if !p.Outcome.Final() {
		out.NextCheckTime = timeToProto(p.NextCheckTime)
	}
	if p.TotalOrderAmount != nil {
		out.TotalOrderAmount = moneyToProto(*p.TotalOrderAmount)
	}
	return out
}

func chargeToProto(c *amazonpay.Charge) *pb.Charge {
	return &pb.Charge{
		ChargeId:                      c.ChargeID,
		ChargePermissionId:            c.ChargePermissionID,
		ChargeAmount:                  priceToProto(c.ChargeAmount),
		CaptureAmount:                 priceToProto(c.CaptureAmount),
		RefundedAmount:                priceToProto(c.RefundedAmount),
		State:                         chargeStates[c.StatusDetails.State],
		ReasonCode:                    c.StatusDetails.ReasonCode,
		ReasonDescription:             c.StatusDetails.ReasonDescription,
		StateUpdateTime:               timeToProto(c.StatusDetails.LastUpdatedTimestamp.Time),
		CreateTime:                    timeToProto(c.CreationTimestamp.Time),
		ExpireTime:                    timeToProto(c.ExpirationTimestamp.Time),
		CaptureNow:                    c.CaptureNow,
		CanHandlePendingAuthorization: c.CanHandlePendingAuthorization,
		SoftDescriptor:                c.SoftDescriptor,
		ReleaseEnvironment:            c.ReleaseEnvironment,
	}
}

func addressToProto(a *amazonpay.Address) *pb.Address {
	if a == nil {
		return nil
	}
	return &pb.Address{
		Name:          a.Name,
		AddressLine_1: a.AddressLine1,
		AddressLine_2: a.AddressLine2,
		AddressLine_3: a.AddressLine3,
		City:          a.City,
		County:        a.County,
		District:      a.District,
		StateOrRegion: a.StateOrRegion,
		PostalCode:    a.PostalCode,
		CountryCode:   a.CountryCode,
		PhoneNumber:   a.PhoneNumber,
	}
}

func chargePermissionToProto(cp *amazonpay.ChargePermission) *pb.ChargePermission {
	out := &pb.ChargePermission{
		ChargePermissionId:   cp.ChargePermissionID,
		ChargePermissionType: permissionTypes[cp.ChargePermissionType],
		State:                permissionStates[cp.StatusDetails.State],
		StateUpdateTime:      timeToProto(cp.StatusDetails.LastUpdatedTimestamp.Time),
		ShippingAddress:      addressToProto(cp.ShippingAddress),
		BillingAddress:       addressToProto(cp.BillingAddress),
		PresentmentCurrency:  cp.PresentmentCurrency,
		ReleaseEnvironment:   cp.ReleaseEnvironment,
		CreateTime:           timeToProto(cp.CreationTimestamp.Time),
		ExpireTime:           timeToProto(cp.ExpirationTimestamp.Time),
	}
	for _, r := range cp.StatusDetails.Reasons {
		out.Reasons = append(out.Reasons, &pb.StatusReason{ReasonCode: r.ReasonCode, ReasonDescription: r.ReasonDescription})
	}
	if b := cp.Buyer; b != nil {
		out.Buyer = &pb.Buyer{
			BuyerId:              b.BuyerID,
			Name:                 b.Name,
			Email:                b.Email,
			PhoneNumber:          b.PhoneNumber,
			PrimeMembershipTypes: b.PrimeMembershipTypes,
		}
	}
	for _, pp := range cp.PaymentPreferences {
		if pp.PaymentDescriptor != "" {
			out.PaymentDescriptors = append(out.PaymentDescriptors, pp.PaymentDescriptor)
		}
	}
	if l := cp.Limits; l != nil {
		out.Limits = &pb.ChargePermissionLimits{AmountLimit: priceToProto(l.AmountLimit), AmountBalance: priceToProto(l.AmountBalance)}
	}
	if cp.MerchantMetadata != nil {
		out.MerchantReferenceId = cp.MerchantMetadata.MerchantReferenceID
	}
	return out
}

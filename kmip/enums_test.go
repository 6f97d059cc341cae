package kmip

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/cofferhsm/coffer/internal/vectors"
	"github.com/cofferhsm/coffer/kmip/ttlv"
)

// enumStringers maps each enumeration's spec name to its String method.
var enumStringers = map[string]func(uint32) string{
	"Attestation Type":                func(v uint32) string { return AttestationType(v).String() },
	"Batch Error Continuation Option": func(v uint32) string { return BatchErrorContinuationOption(v).String() },
	"Block Cipher Mode":               func(v uint32) string { return BlockCipherMode(v).String() },
	"Cancellation Result":             func(v uint32) string { return CancellationResult(v).String() },
	"Certificate Request Type":        func(v uint32) string { return CertificateRequestType(v).String() },
	"Certificate Type":                func(v uint32) string { return CertificateType(v).String() },
	"Credential Type":                 func(v uint32) string { return CredentialType(v).String() },
	"Cryptographic Algorithm":         func(v uint32) string { return CryptographicAlgorithm(v).String() },
	"Derivation Method":               func(v uint32) string { return DerivationMethod(v).String() },
	"Digital Signature Algorithm":     func(v uint32) string { return DigitalSignatureAlgorithm(v).String() },
	"Encoding Option":                 func(v uint32) string { return EncodingOption(v).String() },
	"Hashing Algorithm":               func(v uint32) string { return HashingAlgorithm(v).String() },
	"Key Compression Type":            func(v uint32) string { return KeyCompressionType(v).String() },
	"Key Format Type":                 func(v uint32) string { return KeyFormatType(v).String() },
	"Key Role Type":                   func(v uint32) string { return KeyRoleType(v).String() },
	"Link Type":                       func(v uint32) string { return LinkType(v).String() },
	"Name Type":                       func(v uint32) string { return NameType(v).String() },
	"Object Group Member":             func(v uint32) string { return ObjectGroupMember(v).String() },
	"Object Type":                     func(v uint32) string { return ObjectType(v).String() },
	"Opaque Data Type":                func(v uint32) string { return OpaqueDataType(v).String() },
	"Operation":                       func(v uint32) string { return Operation(v).String() },
	"Padding Method":                  func(v uint32) string { return PaddingMethod(v).String() },
	"Put Function":                    func(v uint32) string { return PutFunction(v).String() },
	"Query Function":                  func(v uint32) string { return QueryFunction(v).String() },
	"Recommended Curve":               func(v uint32) string { return RecommendedCurve(v).String() },
	"Result Reason":                   func(v uint32) string { return ResultReason(v).String() },
	"Result Status":                   func(v uint32) string { return ResultStatus(v).String() },
	"Revocation Reason Code":          func(v uint32) string { return RevocationReasonCode(v).String() },
	"Secret Data Type":                func(v uint32) string { return SecretDataType(v).String() },
	"Split Key Method":                func(v uint32) string { return SplitKeyMethod(v).String() },
	"State":                           func(v uint32) string { return State(v).String() },
	"Usage Limits Unit":               func(v uint32) string { return UsageLimitsUnit(v).String() },
	"Validity Indicator":              func(v uint32) string { return ValidityIndicator(v).String() },
	"Wrapping Method":                 func(v uint32) string { return WrappingMethod(v).String() },
}

type enumTable struct {
	Tags map[string]struct {
		Tag     string `json:"tag"`
		XMLName string `json:"xml_name"`
	} `json:"tags"`
	Enumerations map[string]map[string]struct {
		Value   string `json:"value"`
		XMLName string `json:"xml_name"`
	} `json:"enumerations"`
}

func loadTable(t *testing.T, path string) enumTable {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var tab enumTable
	if err := json.Unmarshal(b, &tab); err != nil {
		t.Fatal(err)
	}
	return tab
}

// TestEnumStrings checks String of every value of every enumeration in the
// KMIP 1.1 table and the additions, and the fallback for unknown values.
func TestEnumStrings(t *testing.T) {
	tables := []enumTable{
		loadTable(t, filepath.Join(vectors.Dir(t), "kmip11_tags_enums.json")),
		loadTable(t, filepath.Join("internal", "gen", "additions.json")),
	}
	n := 0
	for _, tab := range tables {
		for enum, vals := range tab.Enumerations {
			str, ok := enumStringers[enum]
			if !ok {
				t.Errorf("no Go type for enumeration %q", enum)
				continue
			}
			for name, v := range vals {
				u, err := strconv.ParseUint(strings.TrimPrefix(v.Value, "0x"), 16, 32)
				if err != nil {
					t.Fatal(err)
				}
				if got := str(uint32(u)); got != v.XMLName {
					t.Errorf("%s %s (0x%08X).String() = %q, want %q", enum, name, u, got, v.XMLName)
				}
				n++
			}
		}
	}
	for enum, str := range enumStringers {
		if got, want := str(0x8000ABCD), "0x8000ABCD"; got != want {
			t.Errorf("%s(0x8000ABCD).String() = %q, want %q", enum, got, want)
		}
	}
	if n < 290 {
		t.Errorf("checked only %d enumeration values", n)
	}
}

func TestTagString(t *testing.T) {
	tab := loadTable(t, filepath.Join(vectors.Dir(t), "kmip11_tags_enums.json"))
	if len(tab.Tags) != 183 {
		t.Fatalf("table has %d tags, want 183", len(tab.Tags))
	}
	for name, e := range tab.Tags {
		u, err := strconv.ParseUint(strings.TrimPrefix(e.Tag, "0x"), 16, 32)
		if err != nil {
			t.Fatal(err)
		}
		if got := TagString(ttlv.Tag(u)); got != e.XMLName {
			t.Errorf("TagString(%s %s) = %q, want %q", e.Tag, name, got, e.XMLName)
		}
	}
	tests := []struct {
		tag  ttlv.Tag
		want string
	}{
		{TagUniqueIdentifier, "UniqueIdentifier"},
		{TagAttestationCapableIndicator, "AttestationCapableIndicator"},
		{0x540001, "0x540001"},
	}
	for _, tc := range tests {
		if got := TagString(tc.tag); got != tc.want {
			t.Errorf("TagString(%v) = %q, want %q", tc.tag, got, tc.want)
		}
	}
	if TagUniqueIdentifier != 0x420094 || TagActivationDate != 0x420001 || TagAttestationCapableIndicator != 0x4200D3 {
		t.Error("tag constants have wrong values")
	}
}

func TestMaskStrings(t *testing.T) {
	tests := []struct {
		m    fmt.Stringer
		want string
	}{
		{CryptographicUsageMaskEncrypt | CryptographicUsageMaskDecrypt, "Encrypt|Decrypt"},
		{CryptographicUsageMask(0x0000000C), "Encrypt|Decrypt"},
		{CryptographicUsageMaskSign, "Sign"},
		{CryptographicUsageMask(0), "0"},
		{CryptographicUsageMaskTranslateUnwrap | CryptographicUsageMask(0x00100000), "TranslateUnwrap|0x00100000"},
		{CryptographicUsageMask(0x80000000), "0x80000000"},
		{StorageStatusMaskOnLineStorage | StorageStatusMaskArchivalStorage, "OnLineStorage|ArchivalStorage"},
	}
	for _, tc := range tests {
		if got := tc.m.String(); got != tc.want {
			t.Errorf("String() = %q, want %q", got, tc.want)
		}
	}
}

func TestVersionedValues(t *testing.T) {
	tests := []struct {
		got  uint32
		want uint32
	}{
		{uint32(OperationEncrypt), 0x1F},
		{uint32(OperationJoinSplitKey), 0x29},
		{uint32(OperationExport), 0x2B},
		{uint32(OperationDiscoverVersions), 0x1E},
		{uint32(ObjectTypePGPKey), 0x09},
		{uint32(QueryFunctionQueryProfiles), 0x0A},
		{uint32(ResultReasonObjectAlreadyExists), 0x18},
		{uint32(ResultReasonGeneralFailure), 0x100},
	}
	for i, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("case %d: 0x%X, want 0x%X", i, tc.got, tc.want)
		}
	}
}

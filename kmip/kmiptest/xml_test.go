package kmiptest

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cofferhsm/coffer/internal/vectors"
	"github.com/cofferhsm/coffer/kmip/ttlv"
	"github.com/google/go-cmp/cmp"
)

func testRegistry(t *testing.T) *registry {
	t.Helper()
	reg, err := loadRegistry(vectors.Dir(t))
	if err != nil {
		t.Fatal(err)
	}
	return reg
}

// TestConvertAllXML converts every protocol 1.1 XML message and checks that
// each encodes to TTLV that decodes back to the same tree.
func TestConvertAllXML(t *testing.T) {
	cases := LoadXML(t, "xml_*.json")
	groups := map[string]int{}
	messages := 0
	for _, c := range cases {
		groups[c.Group]++
		for _, st := range c.Steps {
			for _, it := range []ttlv.Item{st.Request, st.Response} {
				b, err := ttlv.Encode(it)
				if err != nil {
					t.Errorf("%s step %d: %v", c.Name, st.Index, err)
					continue
				}
				back, err := ttlv.Decode(b)
				if err != nil || !back.Equal(it) {
					t.Errorf("%s step %d: round trip: %v", c.Name, st.Index, err)
				}
				messages++
			}
		}
	}
	want := map[string]int{"AKLC": 4, "OMOS": 2, "SKFF": 18, "SKLC": 4, "TC": 49}
	if diff := cmp.Diff(want, groups); diff != "" {
		t.Errorf("cases per group (-want +got):\n%s", diff)
	}
	if messages != 2*535 {
		t.Errorf("converted %d messages, want %d", messages, 2*535)
	}
	t.Logf("converted %d XML messages of %d cases: %v", messages, len(cases), groups)
}

// TestXMLMatchesHex compares the XML form of the OASIS 1.1 test cases with
// their hex form, step by step, modulo identifiers and Date-Times. The XML
// versions add an x-ID attribute and use other names in some requests, so
// only the listed numbers of steps agree; every agreement is an independent
// check of the XML encoder (tag names, enumerations, masks, types).
func TestXMLMatchesHex(t *testing.T) {
	hexByName := map[string]Case{}
	for _, c := range LoadTC11(t) {
		hexByName[c.Name] = c
	}
	// XML case → hex case, equal requests, equal responses.
	want := map[string]struct {
		hex       string
		req, resp int
	}{
		"TC-101-11": {"TC11-10.1", 9, 13}, "TC-111-11": {"TC11-11.1", 4, 5}, "TC-112-11": {"TC11-11.2", 4, 5},
		"TC-121-11": {"TC11-12.1", 2, 0}, "TC-122-11": {"TC11-12.2", 2, 2}, "TC-131-11": {"TC11-13.1", 7, 9},
		"TC-132-11": {"TC11-13.2", 9, 10}, "TC-133-11": {"TC11-13.3", 11, 14}, "TC-134-11": {"TC11-13.4", 11, 12},
		"TC-141-11": {"TC11-14.1", 3, 5}, "TC-142-11": {"TC11-14.2", 3, 4}, "TC-151-11": {"TC11-15.1", 4, 4},
		"TC-152-11": {"TC11-15.2", 7, 8}, "TC-153-11": {"TC11-15.3", 5, 6}, "TC-161-11": {"TC11-16.1", 4, 4},
		"TC-171-11": {"TC11-17.1", 5, 4}, "TC-181-11": {"TC11-18.1", 7, 10}, "TC-182-11": {"TC11-18.2", 4, 6},
		"TC-311-11": {"TC11-3.1.1", 1, 2}, "TC-312-11": {"TC11-3.1.2", 3, 5}, "TC-313-11": {"TC11-3.1.3", 2, 5},
		"TC-314-11": {"TC11-3.1.4", 9, 10}, "TC-315-11": {"TC11-3.1.5", 1, 2}, "TC-32-11": {"TC11-3.2", 7, 10},
		"TC-41-11": {"TC11-4.1", 13, 14}, "TC-51-11": {"TC11-5.1", 7, 11}, "TC-61-11": {"TC11-6.1", 3, 4},
		"TC-71-11": {"TC11-7.1", 1, 2}, "TC-72-11": {"TC11-7.2", 0, 1}, "TC-81-11": {"TC11-8.1", 4, 5},
		"TC-82-11": {"TC11-8.2", 5, 7}, "TC-91-11": {"TC11-9.1", 5, 8}, "TC-92-11": {"TC11-9.2", 8, 9},
		"TC-93-11": {"TC11-9.3", 7, 8}, "TC-94-11": {"TC11-9.4", 5, 8}, "TC-95-11": {"TC11-9.5", 9, 11},
	}
	seen := 0
	for _, x := range LoadXML(t, "xml_tc_*.json") {
		w, ok := want[x.Name]
		if !ok {
			continue
		}
		seen++
		h := hexByName[w.hex]
		req, resp := 0, 0
		for i := range min(len(h.Steps), len(x.Steps)) {
			if normalize(h.Steps[i].Request).Equal(normalize(x.Steps[i].Request)) {
				req++
			}
			if normalize(h.Steps[i].Response).Equal(normalize(x.Steps[i].Response)) {
				resp++
			}
		}
		if req != w.req || resp != w.resp {
			t.Errorf("%s vs %s: %d requests and %d responses agree, want %d and %d", x.Name, w.hex, req, resp, w.req, w.resp)
		}
	}
	if seen != len(want) {
		t.Errorf("compared %d XML cases, want %d", seen, len(want))
	}
}

func TestConvertXML(t *testing.T) {
	reg := testRegistry(t)
	now0 := time.Unix(0, 0).UTC()
	tests := []struct {
		name string
		xml  string
		want ttlv.Item
		now  map[string]int64
	}{{
		name: "types",
		xml: `<RequestMessage><BatchItem>
		  <Operation type="Enumeration" value="Create"/>
		  <BatchCount type="Integer" value="0x10"/>
		  <Offset type="Interval" value="60"/>
		  <UsageLimitsTotal type="LongInteger" value="-5"/>
		  <Modulus type="BigInteger" value="80ff"/>
		  <Fresh type="Boolean" value="false"/>
		  <KeyMaterial type="ByteString" value="00ff"/>
		  <ActivationDate type="DateTime" value="2012-04-27T10:12:24+02:00"/>
		  <ActivationDate type="DateTime" value="$NOW-60"/>
		  <AsynchronousCorrelationValue type="ByteString" value="$ASYNCHRONOUS_CORRELATION_VALUE"/>
		  <TTLV tag="0x540001" type="TextString" value="na"/>
		</BatchItem></RequestMessage>`,
		want: ttlv.Struct(tagRequestMessage, ttlv.Struct(tagBatchItem,
			ttlv.Enum(tagOperation, 1),
			ttlv.Int(0x42000D, 16),
			ttlv.Interval(0x420058, 60),
			ttlv.Long(0x420097, -5),
			ttlv.BigInt(0x420052, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x80, 0xff}),
			ttlv.Bool(0x4200A8, false),
			ttlv.Bytes(0x420043, []byte{0, 0xff}),
			ttlv.DateTime(0x420001, time.Date(2012, 4, 27, 8, 12, 24, 0, time.UTC)),
			ttlv.DateTime(0x420001, now0),
			ttlv.Bytes(tagAsyncCorrelation, []byte("$ASYNCHRONOUS_CORRELATION_VALUE")),
			ttlv.Text(0x540001, "na"),
		)),
		now: map[string]int64{"/0/8": -60},
	}, {
		name: "attribute values take the attribute's enumeration and mask",
		xml: `<Attribute><AttributeName type="TextString" value="Cryptographic Usage Mask"/>
		  <AttributeValue type="Integer" value="Encrypt Decrypt"/></Attribute>`,
		want: ttlv.Struct(tagAttribute, ttlv.Text(tagAttributeName, "Cryptographic Usage Mask"), ttlv.Int(tagAttributeValue, 12)),
		now:  map[string]int64{},
	}, {
		name: "enumeration by alias and by hex",
		xml: `<Template><Attribute><AttributeName type="TextString" value="Digital Signature Algorithm"/>
		  <AttributeValue type="Enumeration" value="SHA_256WithRSAEncryption"/></Attribute>
		  <ObjectType type="Enumeration" value="0x80000001"/></Template>`,
		want: ttlv.Struct(0x420090,
			ttlv.Struct(tagAttribute, ttlv.Text(tagAttributeName, "Digital Signature Algorithm"), ttlv.Enum(tagAttributeValue, 5)),
			ttlv.Enum(0x420057, 0x80000001)),
		now: map[string]int64{},
	}}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := reg.convertXML(tc.xml, nil)
			if err != nil {
				t.Fatal(err)
			}
			if !got.item.Equal(tc.want) {
				t.Errorf("got  %#v\nwant %#v", got.item, tc.want)
			}
			if diff := cmp.Diff(tc.now, got.now); diff != "" {
				t.Errorf("$NOW positions (-want +got):\n%s", diff)
			}
		})
	}
}

func TestConvertXMLVariableFields(t *testing.T) {
	reg := testRegistry(t)
	src := `<ResponseMessage><BatchItem><ResultMessage type="TextString" value="a"/></BatchItem>
	  <BatchItem><ResultMessage type="TextString" value="b"/></BatchItem></ResponseMessage>`
	got, err := reg.convertXML(src, []xmlField{{Path: "ResponseMessage/BatchItem/ResultMessage", Value: "b"}})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]bool{"/1/0": true}, got.variable); diff != "" {
		t.Errorf("variable (-want +got):\n%s", diff)
	}
}

func TestConvertXMLRejects(t *testing.T) {
	reg := testRegistry(t)
	deep := strings.Repeat("<Attribute>", maxXMLDepth+1) + strings.Repeat("</Attribute>", maxXMLDepth+1)
	many := "<Template>" + strings.Repeat(`<Fresh type="Boolean" value="true"/>`, maxXMLElements) + "</Template>"
	tests := []struct{ name, xml string }{
		{"unknown element", `<NoSuchThing/>`},
		{"unknown type", `<Fresh type="Float" value="1"/>`},
		{"bad boolean", `<Fresh type="Boolean" value="yes"/>`},
		{"bad enumeration", `<ObjectType type="Enumeration" value="Banana"/>`},
		{"bad mask flag", `<Attribute><AttributeName type="TextString" value="Cryptographic Usage Mask"/><AttributeValue type="Integer" value="Encrypt Fly"/></Attribute>`},
		{"integer overflow", `<BatchCount type="Integer" value="4294967296"/>`},
		{"bad hex", `<KeyMaterial type="ByteString" value="0g"/>`},
		{"bad date", `<ActivationDate type="DateTime" value="yesterday"/>`},
		{"bad $NOW offset", `<ActivationDate type="DateTime" value="$NOW+soon"/>`},
		{"bad TTLV tag", `<TTLV tag="0x1000000" type="TextString" value="x"/>`},
		{"text in structure", `<Template>hello</Template>`},
		{"child of a primitive", `<Fresh type="Boolean" value="true"><Fresh type="Boolean" value="true"/></Fresh>`},
		{"unknown attribute", `<Fresh type="Boolean" value="true" colour="red"/>`},
		{"unclosed", `<Template>`},
		{"two roots", `<Template/><Template/>`},
		{"empty", ``},
		{"too deep", deep},
		{"too many elements", many},
		{"too large", "<Template>" + strings.Repeat(" ", maxXMLSize) + "</Template>"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := reg.convertXML(tc.xml, nil)
			if !errors.Is(err, ErrBadXML) {
				t.Errorf("err = %v, want ErrBadXML", err)
			}
		})
	}
}

func TestKnownGapMasksResolve(t *testing.T) {
	reg := testRegistry(t)
	for c, steps := range knownGapMasks {
		for _, names := range steps {
			for _, n := range names {
				if _, ok := reg.tagByXML[n]; !ok {
					t.Errorf("%s: unknown element %q", c, n)
				}
			}
		}
	}
}

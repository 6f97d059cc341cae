package kmiptest

import (
	"errors"
	"testing"
	"time"

	"github.com/cofferhsm/coffer/kmip/ttlv"
)

// BenchmarkConvertXML converts every protocol 1.1 XML message once per
// iteration.
func BenchmarkConvertXML(b *testing.B) {
	reg, err := loadRegistry(vectorsPath(b, ""))
	if err != nil {
		b.Fatal(err)
	}
	var docs []string
	for _, f := range []string{"xml_tc_314_11.json", "xml_sklc_m_3_11.json", "xml_tc_133_11.json"} {
		var doc xmlDoc
		if err := readJSON(vectorsPath(b, f), &doc); err != nil {
			b.Fatal(err)
		}
		for _, s := range doc.Steps {
			docs = append(docs, s.RequestXML, s.ResponseXML)
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, d := range docs {
			if _, err := reg.convertXML(d, nil); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(len(docs)), "msgs/op")
}

// BenchmarkRunTC11Replay runs all 36 hex cases against the in-memory replay
// server: the harness's own cost per full pass (rewriting, encoding,
// decoding, comparing), without network or pauses.
func BenchmarkRunTC11Replay(b *testing.B) {
	cases := LoadTC11(b)
	o := Options{Now: func() time.Time { return fixedNow }, MaxPause: -1}
	b.ReportAllocs()
	for b.Loop() {
		for _, c := range cases {
			if res := c.RunWith(b.Context(), newReplay(b, c), o); !res.Pass {
				b.Fatal(res.Reason)
			}
		}
	}
}

func FuzzConvertXML(f *testing.F) {
	reg, err := loadRegistry(vectorsPath(f, ""))
	if err != nil {
		f.Fatal(err)
	}
	for _, name := range []string{"xml_tc_32_11.json", "xml_tc_72_11.json", "xml_aklc_m_1_11.json"} {
		var doc xmlDoc
		if err := readJSON(vectorsPath(f, name), &doc); err != nil {
			f.Fatal(err)
		}
		for _, s := range doc.Steps {
			f.Add(s.RequestXML)
			f.Add(s.ResponseXML)
		}
	}
	f.Fuzz(func(t *testing.T, src string) {
		c, err := reg.convertXML(src, nil)
		if err != nil {
			return
		}
		// Whatever converts must encode, except over-long tags or values the
		// encoder refuses for a reason ttlv reports as an EncodeError.
		if _, err := ttlv.Encode(c.item); err != nil {
			var ee *ttlv.EncodeError
			if !errors.As(err, &ee) {
				t.Fatalf("encode: %v", err)
			}
		}
	})
}

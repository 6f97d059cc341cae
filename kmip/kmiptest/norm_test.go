package kmiptest

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/cofferhsm/coffer/internal/vectors"
	"github.com/cofferhsm/coffer/kmip/ttlv"
)

func vectorsPath(t testing.TB, name string) string { return filepath.Join(vectors.Dir(t), name) }

// normalize blanks what legitimately differs between the hex and XML forms
// of one OASIS test: identifiers, time stamps and other Date-Times.
func normalize(it ttlv.Item) ttlv.Item {
	switch v := it.Value.(type) {
	case []ttlv.Item:
		kids := make([]ttlv.Item, len(v))
		for i, k := range v {
			kids[i] = normalize(k)
		}
		return ttlv.Struct(it.Tag, kids...)
	case time.Time:
		return ttlv.DateTime(it.Tag, time.Unix(0, 0))
	}
	if isIDTag(it.Tag) {
		return ttlv.Item{Tag: it.Tag, Type: it.Type, Value: zeroOf(it)}
	}
	return it
}

func zeroOf(it ttlv.Item) any {
	if it.Type == ttlv.TypeByteString {
		return []byte{}
	}
	return ""
}

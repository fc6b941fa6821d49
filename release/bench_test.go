package release

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"fmt"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"testing"
)

// benchTree is a generated package of about 20 MB: source-like text files
// of log-normally distributed sizes (median about 4 KB, a few past 1 MB),
// in nested directories, compressing about as well as real code does.
var benchTree = sync.OnceValue(func() map[string]string {
	const total = 20 << 20
	rnd := rand.New(rand.NewPCG(7, 11))
	words := strings.Fields(`func return if else for range var const type struct interface map
		string int error nil true false package import public private class function
		namespace use new this self static array echo require module exports async await
		the a of to in is and data value name result config handler request response`)
	tree := map[string]string{"package.json": `{"name":"bench","dependencies":{"a":"^1.0.0"}}`}
	var size int
	var sb strings.Builder
	for i := 0; size < total; i++ {
		n := int(math.Exp(8.3 + 1.4*rnd.NormFloat64())) // median e^8.3 ≈ 4 KB
		n = min(n, 2<<20, total-size)
		sb.Reset()
		for sb.Len() < n {
			sb.WriteString(words[rnd.IntN(len(words))])
			if rnd.IntN(10) == 0 {
				sb.WriteByte('\n')
			} else {
				sb.WriteByte(' ')
			}
		}
		body := sb.String()[:n]
		tree[fmt.Sprintf("src/m%02d/d%03d/file%05d.js", i%17, i%101, i)] = body
		size += n
	}
	return tree
})

func benchEntries() []testEntry {
	tree := benchTree()
	names := make([]string, 0, len(tree))
	for n := range tree {
		names = append(names, n)
	}
	sort.Strings(names)
	return entries(tree, "package/", names)
}

func benchSize() int64 {
	var n int64
	for _, body := range benchTree() {
		n += int64(len(body))
	}
	return n
}

var (
	benchZip = sync.OnceValue(func() []byte { return makeZip(&testing.B{}, benchEntries(), zip.Deflate) })
	benchTar = sync.OnceValue(func() []byte { return makeTar(&testing.B{}, benchEntries()) })
	benchTgz = sync.OnceValue(func() []byte { return gzipBytes(&testing.B{}, benchTar()) })
)

func BenchmarkTreeHashZip(b *testing.B) {
	data := benchZip()
	b.SetBytes(benchSize())
	b.ResetTimer()
	defer func() { b.ReportMetric(float64(len(data))/float64(benchSize()), "compressed/raw") }()
	for range b.N {
		if _, err := HashZip(bytes.NewReader(data), int64(len(data)), "package.json", Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkTreeHashTarGz(b *testing.B) {
	data := benchTgz()
	b.SetBytes(benchSize())
	b.ResetTimer()
	defer func() { b.ReportMetric(float64(len(data))/float64(benchSize()), "compressed/raw") }()
	for range b.N {
		if _, err := HashTarGz(bytes.NewReader(data), "package.json", Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkTreeHashTar shows the cost of the archive handling alone.
func BenchmarkTreeHashTar(b *testing.B) {
	data := benchTar()
	b.SetBytes(benchSize())
	b.ResetTimer()
	for range b.N {
		if _, err := HashTar(bytes.NewReader(data), "package.json", Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSHA256Baseline hashes the same uncompressed bytes file by file:
// the floor under any tree hash.
func BenchmarkSHA256Baseline(b *testing.B) {
	var files [][]byte
	for _, body := range benchTree() {
		files = append(files, []byte(body))
	}
	b.SetBytes(benchSize())
	b.ResetTimer()
	for range b.N {
		for _, f := range files {
			sha256.Sum256(f)
		}
	}
}

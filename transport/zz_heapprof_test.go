package transport

import (
	"os"
	"runtime"
	"runtime/pprof"
)

func init() {
	if os.Getenv("ZZ_HEAPPROF") != "" {
		runtime.MemProfileRate = 64
	}
}

func zzHeap() {
	if p := os.Getenv("ZZ_HEAPPROF"); p != "" {
		runtime.GC()
		f, _ := os.Create(p)
		pprof.Lookup("heap").WriteTo(f, 0)
		f.Close()
	}
}

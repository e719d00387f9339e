package mm

// adviseHuge is a no-op: macOS has no transparent huge pages to ask for.
func adviseHuge(mem []byte) {}

// discard gives host memory back; it reads as zero afterwards. MADV_FREE
// does not zero at once on macOS, so the pages are mapped anew.
func discard(b []byte) { remapAnon(b) }

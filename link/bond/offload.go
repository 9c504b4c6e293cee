package bond

import "github.com/tapstack/tapstack/link"

var _ link.OffloadDevice = (*Bond)(nil)

// offloads fixes the bond's offload capability at New: what every slave
// does. A TCP super-segment or a partial checksum may go out on any
// slave (a flow moves at each failover or aggregation change), so the
// bond offers checksum offload only when every slave completes
// checksums, and segmentation only up to the smallest GSOMaxSize, only
// when every slave segments (and completes checksums: a super-segment's
// checksum is always partial). A bond's slaves are fixed at New, so no
// slave can join later that could not take what the bond offered; a
// slave that could, say a TAP opened without its virtio-net header,
// would make the whole bond send MTU-sized frames with full checksums.
func offloads(slaves []SlaveConfig) (gsoMax int, csum bool) {
	for i, s := range slaves {
		g, c := link.Offloads(s.Dev)
		if !c {
			return 0, false
		}
		if i == 0 || g < gsoMax {
			gsoMax = g
		}
	}
	return gsoMax, true
}

// GSOMaxSize is the largest TCP packet (IP header included) every slave
// segments, 0 unless every slave segments and completes checksums.
func (b *Bond) GSOMaxSize() int { return b.gsoMax }

// ChecksumOffload reports whether every slave completes the transport
// checksums of frames marked ChecksumPartial.
func (b *Bond) ChecksumOffload() bool { return b.csum }

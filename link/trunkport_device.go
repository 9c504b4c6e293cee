package link

// Device is the device of the port's trunk, shared by all its ports (for
// per-device statistics: tapstack metrics labels them by device).
func (p *TrunkPort) Device() Device { return p.t.dev }

"""What runs before the server listens: settings to keys, key checks, the demo business."""

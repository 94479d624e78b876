"""Python runs this at start-up when tools/rehearsal is on PYTHONPATH (the rehearsal puts it there for its
notebook kernels): with GENUINE_POSED_FAKE_DRIVE set, Google Drive downloads come from that folder; with
GENUINE_POSED_FAKE_HUB set, pretrained weights come from the stand-in hub at that address."""

import os

if os.environ.get("GENUINE_POSED_FAKE_DRIVE"):
    import fake_drive

    fake_drive.install(fake_drive.FakeDrive(folder=os.environ["GENUINE_POSED_FAKE_DRIVE"]))

if os.environ.get("GENUINE_POSED_FAKE_HUB"):
    import fake_hub

    fake_hub.install_from_environment()

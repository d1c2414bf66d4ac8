"""The Ops panel: Titan's proposed self-changes, with Approve and Reject."""

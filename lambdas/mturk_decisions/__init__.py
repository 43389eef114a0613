"""mturk-decisions: reject MTurk assignments and reverse rejections safely, with an audit trail."""

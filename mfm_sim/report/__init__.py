"""What people and CI systems read: the summary and failure lines (`summary`), JUnit XML
(`junit`, the only writer), the timeline (`timeline`), a regression test (`regression`) and a
ready issue body (`issue`).
"""

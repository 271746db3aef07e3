"""Reading customer exports as the platforms and spreadsheets write them.

``text`` opens a file (encoding, binary and line-length guards), ``csvfile``
and ``jsonfile`` split it into records without ever letting a bad one take the
next with it, and ``sources`` recognises the layout and turns each record into
a customer's fields (through app.shoppers).  The job that writes them is
app.jobs.importer.
"""

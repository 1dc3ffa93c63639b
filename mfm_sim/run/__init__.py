"""One schedule: a scenario (`scenario`, `knobs`) in a world (`world`) through its process
incarnations (`incarnations`) to what it left (`observation`, `trace`), judged by the invariants
and returned as a `SimResult` (`result`) by `simulate`. Also the schedule as data (`schedule`),
input checks (`validate`) and the fault-free reference run (`reference`).
"""

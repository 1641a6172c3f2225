"""Dispatch: clinicians, visits, Optimize Day jobs and the route plans they write.

Every row belongs to a tenant. Rows change only through the write functions of
core/dispatch/services.py, each of which records an outbox event in the same transaction.
Route plans are versioned history: a new Optimize Day adds a version, never edits one.

Times of day (shifts, windows, planned arrivals) are the agency's local wall-clock times
on the visit's date; the solver works in seconds since that midnight.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models
from django.db.models import F, Q

from core.accounts.models import Tenant


class Skill(models.TextChoices):
    """The fixed skill vocabulary every agency shares (a clinician holds some; a visit needs one)."""

    NURSING = "nursing", "Skilled nursing"
    WOUND_CARE = "wound_care", "Wound care"
    IV_THERAPY = "iv_therapy", "IV therapy"
    PHYSIOTHERAPY = "physiotherapy", "Physiotherapy"
    OCCUPATIONAL_THERAPY = "occupational_therapy", "Occupational therapy"
    PEDIATRICS = "pediatrics", "Pediatrics"
    PALLIATIVE = "palliative", "Palliative care"
    HOME_AIDE = "home_aide", "Home health aide"


class Priority(models.IntegerChoices):
    """When a day is over-full, lower priorities are left out first (solver semantics)."""

    ROUTINE = 1, "Routine"
    HIGH = 2, "High"
    URGENT = 3, "Urgent"


class Clinician(models.Model):
    """A clinician who can be routed: skills, a shift, and where the day starts and ends."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=200)
    skills = ArrayField(models.CharField(max_length=32, choices=Skill.choices), default=list, blank=True)
    shift_start = models.TimeField()
    shift_end = models.TimeField()
    start_lat = models.FloatField()
    start_lon = models.FloatField()
    active = models.BooleanField(default=True)
    # A lunch break of break_minutes that may start from break_start to break_end (none if 0).
    break_start = models.TimeField(null=True, blank=True)
    break_end = models.TimeField(null=True, blank=True)
    break_minutes = models.PositiveSmallIntegerField(default=0)
    # How long past shift_end a route may run; each minute costs as much as two of driving.
    max_overtime_minutes = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["tenant", "active"], name="dispatch_clinician_tenant")]
        constraints = [
            models.CheckConstraint(condition=Q(shift_end__gt=F("shift_start")), name="clinician_shift_order"),
            models.CheckConstraint(condition=Q(start_lat__gte=-90, start_lat__lte=90), name="clinician_lat"),
            models.CheckConstraint(condition=Q(start_lon__gte=-180, start_lon__lte=180), name="clinician_lon"),
            models.CheckConstraint(
                condition=Q(break_minutes=0) | Q(break_start__isnull=False, break_end__gte=F("break_start")),
                name="clinician_break_window"),
        ]

    def __str__(self) -> str:
        return self.name


class Visit(models.Model):
    """A visit to a patient on a date: where, when service may start, how long, what skill."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled"  # to be routed by Optimize Day
        CANCELLED = "cancelled"  # kept for the record, never routed

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    # An opaque reference to the patient's record elsewhere; no health data lives here.
    patient_ref = models.CharField(max_length=64)
    lat = models.FloatField()
    lon = models.FloatField()
    date = models.DateField()
    # Service must *start* within the window (the solver's convention).
    window_start = models.TimeField()
    window_end = models.TimeField()
    duration_minutes = models.PositiveSmallIntegerField()
    required_skill = models.CharField(max_length=32, choices=Skill.choices, blank=True)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.ROUTINE)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.SCHEDULED)
    # The patient's usual clinicians (ids, same agency): continuity of care, a soft preference.
    preferred_clinicians = ArrayField(models.IntegerField(), default=list, blank=True)
    # Reported while under way: the visit will end at this time, later than planned.
    running_until = models.TimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["date", "window_start", "id"]
        indexes = [models.Index(fields=["tenant", "date"], name="dispatch_visit_tenant_date")]
        constraints = [
            models.CheckConstraint(condition=Q(window_end__gte=F("window_start")), name="visit_window_order"),
            models.CheckConstraint(condition=Q(duration_minutes__gt=0), name="visit_duration_positive"),
            models.CheckConstraint(condition=Q(lat__gte=-90, lat__lte=90), name="visit_lat"),
            models.CheckConstraint(condition=Q(lon__gte=-180, lon__lte=180), name="visit_lon"),
        ]

    def __str__(self) -> str:
        return f"{self.patient_ref} on {self.date}"


class OptimizeJob(models.Model):
    """One Optimize Day request: queued -> running -> done | failed (retries go back to queued).

    A long-running job with the lifecycle columns of outbox/jobs.py (attempts, claimed_event,
    deadline_at): moves happen by conditional UPDATEs (queries.py), never read-decide-save.
    At most one job per tenant and date is queued or running: a second request gets that one.
    """

    class Status(models.TextChoices):
        QUEUED = "queued"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    date = models.DateField()
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                     on_delete=models.SET_NULL, related_name="+")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    error = models.TextField(blank=True)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The outbox event whose delivery holds the running job, so a redelivery of it resumes.
    claimed_event = models.UUIDField(null=True, blank=True)
    # A queued or running job still unfinished at its deadline was lost with its worker and
    # is abandoned (set when queued, claimed or retried: OPTIMIZE_STALE_AFTER_S ahead).
    deadline_at = models.DateTimeField(null=True, blank=True)
    # A re-plan of the rest of the day from this time (a sick call): visits the current plan
    # started earlier stay pinned, nothing new starts earlier. None: plan the whole day.
    as_of = models.TimeField(null=True, blank=True)
    reason = models.CharField(max_length=200, blank=True)  # why this re-plan, for the dispatcher

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["tenant", "date", "-id"], name="dispatch_job_tenant_date")]
        constraints = [
            # The no-duplicate-solve rule, enforced where concurrent requests meet (queries.INSERT_JOB).
            models.UniqueConstraint(fields=["tenant", "date"], condition=Q(status__in=["queued", "running"]),
                                    name="dispatch_one_active_job_per_day"),
        ]

    def __str__(self) -> str:
        return f"optimize {self.date} ({self.status})"


class RoutePlan(models.Model):
    """One version of a day's routes, written by one job; later versions supersede it."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    date = models.DateField()
    version = models.PositiveIntegerField()
    job = models.OneToOneField(OptimizeJob, null=True, blank=True, on_delete=models.PROTECT,
                               related_name="route_plan")
    created_at = models.DateTimeField(auto_now_add=True)
    # Solver statistics: what it minimised (travel seconds plus drop penalties), how long it
    # searched, and what it achieved.
    objective = models.BigIntegerField()
    solve_seconds = models.FloatField()
    time_limit_seconds = models.FloatField()
    total_travel_seconds = models.PositiveIntegerField()
    visits_assigned = models.PositiveIntegerField()
    visits_unassigned = models.PositiveIntegerField()
    solver_status = models.CharField(max_length=20)
    # Searched from the day's previous version (Optimize Day re-plans from the current plan).
    warm_start = models.BooleanField(default=False)
    reason = models.CharField(max_length=200, blank=True)  # the job's, when it was a re-plan
    # Of the visits with preferred clinicians, the share served by one (None: nobody has any).
    preferred_share = models.FloatField(null=True, blank=True)
    # Per clinician id (as a string): {"break": [start, end] seconds, "overtime": seconds}.
    route_details = models.JSONField(default=dict, blank=True)
    # What changed from the previous version: [{visit, from, to, from_start, to_start}].
    changes = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["-date", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["tenant", "date", "version"], name="dispatch_plan_version"),
        ]

    def __str__(self) -> str:
        return f"plan {self.date} v{self.version}"


class RouteStop(models.Model):
    """A visit in a clinician's route: its place in the sequence and the planned times."""

    plan = models.ForeignKey(RoutePlan, on_delete=models.CASCADE, related_name="stops")
    clinician = models.ForeignKey(Clinician, on_delete=models.PROTECT, related_name="+")
    visit = models.ForeignKey(Visit, on_delete=models.PROTECT, related_name="+")
    sequence = models.PositiveSmallIntegerField()  # 1 for the clinician's first visit
    planned_arrival = models.TimeField()
    planned_start = models.TimeField()  # arrival plus any wait for the window to open
    planned_departure = models.TimeField()

    class Meta:
        ordering = ["plan", "clinician", "sequence"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "visit"], name="dispatch_stop_visit_once"),
            models.UniqueConstraint(fields=["plan", "clinician", "sequence"], name="dispatch_stop_sequence"),
        ]

    def __str__(self) -> str:
        return f"stop {self.sequence} of clinician {self.clinician_id}"


class UnassignedVisit(models.Model):
    """A visit the plan could not route, and why (solver.UnassignedReason)."""

    plan = models.ForeignKey(RoutePlan, on_delete=models.CASCADE, related_name="unassigned")
    visit = models.ForeignKey(Visit, on_delete=models.PROTECT, related_name="+")
    reason = models.CharField(max_length=32)
    message = models.TextField()

    class Meta:
        ordering = ["plan", "visit"]
        constraints = [
            models.UniqueConstraint(fields=["plan", "visit"], name="dispatch_unassigned_once"),
        ]

    def __str__(self) -> str:
        return f"visit {self.visit_id} unassigned: {self.reason}"


class ClinicianAbsence(models.Model):
    """A clinician out for the rest of a day from a time (a sick call): re-plans route around it."""

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    clinician = models.ForeignKey(Clinician, on_delete=models.PROTECT, related_name="+")
    date = models.DateField()
    from_time = models.TimeField()
    reported_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True,
                                    on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["date", "from_time", "id"]
        indexes = [models.Index(fields=["tenant", "date"], name="dispatch_absence_day")]
        constraints = [
            models.UniqueConstraint(fields=["clinician", "date"], name="dispatch_one_absence_per_day"),
        ]

    def __str__(self) -> str:
        return f"clinician {self.clinician_id} out from {self.from_time} on {self.date}"


class Schedule(models.Model):
    """A recurring job a dispatcher set for their agency (core/dispatch/schedules.py, adr/0025):
    Optimize Day for the day `days_ahead` after each run, in cron form (evaluated in the
    agency's time zone) or every N minutes.

    Each due run is one deferred outbox event (available_at = next_run_at, the schedule's
    priority) carrying `version`; an edit, a pause or a resume bumps the version, so an event
    of an older version finds nothing to do. Runs missed while the system was down are run
    once, when the event is finally delivered (the catch-up policy), then the schedule goes on
    from the next due time after now."""

    class Action(models.TextChoices):
        OPTIMIZE_DAY = "optimize_day"

    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+")
    name = models.CharField(max_length=100)
    action = models.CharField(max_length=20, choices=Action.choices, default=Action.OPTIMIZE_DAY)
    days_ahead = models.PositiveSmallIntegerField(default=1)
    cron = models.CharField(max_length=100, blank=True)  # five fields, in the agency's time zone
    every_minutes = models.PositiveIntegerField(null=True, blank=True)
    priority = models.PositiveSmallIntegerField(default=5)  # 0 first, as the outbox's
    enabled = models.BooleanField(default=True)
    version = models.PositiveIntegerField(default=1)
    next_run_at = models.DateTimeField(null=True, blank=True)  # None while paused
    last_run_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["tenant", "name"], name="dispatch_schedule_tenant")]
        constraints = [
            models.CheckConstraint(condition=(Q(cron="") & Q(every_minutes__isnull=False))
                                   | (~Q(cron="") & Q(every_minutes__isnull=True)), name="schedule_one_form"),
            models.CheckConstraint(condition=Q(priority__lte=9), name="schedule_priority"),
            models.CheckConstraint(condition=Q(days_ahead__lte=14), name="schedule_days_ahead"),
        ]

    def __str__(self) -> str:
        return f"schedule {self.name} ({self.cron or f'every {self.every_minutes} min'})"


class ScheduleRun(models.Model):
    """One run of a schedule: when it was due, when it ran, what it did, and how many due
    times before it were missed (the system was down) and not run again."""

    class Outcome(models.TextChoices):
        REQUESTED = "requested"  # a new Optimize Day job
        ALREADY_ACTIVE = "already_active"  # one for that day was queued or running: that one stands

    schedule = models.ForeignKey(Schedule, on_delete=models.CASCADE, related_name="runs")
    tenant = models.ForeignKey(Tenant, on_delete=models.PROTECT, related_name="+", db_index=False)
    due_at = models.DateTimeField()
    ran_at = models.DateTimeField()
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    day = models.DateField()
    job = models.ForeignKey(OptimizeJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    missed = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-due_at", "-id"]
        indexes = [models.Index(fields=["schedule", "-due_at"], name="dispatch_schedulerun_recent")]
        constraints = [models.UniqueConstraint(fields=["schedule", "due_at"], name="schedule_run_once")]

    def __str__(self) -> str:
        return f"run of schedule {self.schedule_id} due {self.due_at:%Y-%m-%d %H:%M}"

"""Helpers shared by the tests, one module per topic (fixtures live in conftest.py files):

    people      the story's users (make_user), with their role groups
    outbox      running task events in-process as a worker does; reading the outbox
    processes   real Ferry processes (web, relay, worker) and private Redis servers
    web         talking to running processes: sessions, the JSON API, live streams
    dispatch    clinicians, visits and Optimize Day
    learning    content in a given state (drafted, approved, published)
    sandbox     grading in a forked stand-in worker
    agencies    two agencies with one user of every role and one object of every kind
"""

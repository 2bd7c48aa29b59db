// /metrics for the waiting queues: per event, as this instance's admission ticker last saw them. Every
// instance runs the same rounds against the same Redis, so any one of them reports the whole queue.
import Queue
import Runtime

enum QueueMetrics {
    static func render(_ rounds: [(eventID: String, round: AdmissionRound)], polls: GatewayMetrics, into out: inout PrometheusText) {
        out.family("floodgate_queue_polls_total", "counter", "Queue polls, by how they were answered: fast (plain reads) or script (queue.lua).")
        out.sample("floodgate_queue_polls_total", [("path", "fast")], polls.queuePollsFast)
        out.sample("floodgate_queue_polls_total", [("path", "script")], polls.queuePollsScripted)
        out.family("floodgate_queue_waiting", "gauge", "Users waiting in line, per event.")
        for (event, round) in rounds { out.sample("floodgate_queue_waiting", [("event", event)], Int(round.waiting)) }
        out.family("floodgate_queue_active", "gauge", "Users admitted and inside, per event.")
        for (event, round) in rounds { out.sample("floodgate_queue_active", [("event", event)], Int(round.active)) }
        out.family("floodgate_queue_admitted_per_second", "gauge", "Admissions per second over the last minute, per event.")
        for (event, round) in rounds {
            out.sample("floodgate_queue_admitted_per_second", [("event", event)], round.ratePerSecond)
        }
        out.family("floodgate_queue_admitted_total", "counter", "Users admitted since the event was created, per event.")
        for (event, round) in rounds { out.sample("floodgate_queue_admitted_total", [("event", event)], Int(round.admittedTotal)) }
    }
}

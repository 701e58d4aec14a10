package dev.speedrun.kernels.cuda;

/**
 * The streams of one GPU (docs/cuda.md, "Streams"): kernels, cuBLASLt and copies on the compute
 * stream; NCCL collectives on the communication stream, so they run while the compute stream goes
 * on with the backward and the optimizer; the micro-batch uploads on the copy stream
 * ({@link CopyStreamUploads}), so the next micro-batch's inputs arrive while this one computes. Work on two lanes is ordered only through events: one
 * lane records an event, the other waits for it on the device ({@code cuStreamWaitEvent}).
 */
enum Lane { COMPUTE, COMMUNICATION, COPY }

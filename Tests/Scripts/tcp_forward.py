"""Forwards TCP connections: LISTEN_HOST:LISTEN_PORT -> TARGET_HOST:TARGET_PORT, each pair of
connections copied both ways until either side closes. Prints "listening" once it accepts.
The two-host tests (CodeSearch, durable objects under a partition) use it to let network namespaces reach servers that listen on
the host's loopback (PostgreSQL, the S3 store) through the bridge address.

usage: tcp_forward.py LISTEN_HOST LISTEN_PORT TARGET_HOST TARGET_PORT [...more quadruples]
"""
import asyncio
import signal
import sys


async def pipe(reader, writer):
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, asyncio.CancelledError):
        pass
    finally:
        try:
            writer.close()
        except Exception:
            pass


def handler(target_host, target_port):
    async def handle(client_reader, client_writer):
        try:
            server_reader, server_writer = await asyncio.open_connection(target_host, target_port)
        except OSError:
            client_writer.close()
            return
        await asyncio.gather(pipe(client_reader, server_writer), pipe(server_reader, client_writer))

    return handle


async def main(arguments):
    servers = []
    for index in range(0, len(arguments), 4):
        listen_host, listen_port, target_host, target_port = arguments[index:index + 4]
        servers.append(await asyncio.start_server(handler(target_host, int(target_port)), listen_host, int(listen_port)))
    print("listening", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    await stop.wait()


if __name__ == "__main__":
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM, signal.SIGINT})
    asyncio.run(main(sys.argv[1:]))

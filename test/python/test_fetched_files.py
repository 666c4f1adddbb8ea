import hashlib

import pytest

from strata_ansible import fetched_files


def sha1(data):
    return hashlib.sha1(data).hexdigest()


def fetched(path, data, changed=True):
    """fetch's result for a copy it wrote (changed) or found (ok)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    if changed:
        return {'changed': True, 'md5sum': 'x', 'dest': str(path), 'remote_md5sum': None, 'checksum': sha1(data),
                'remote_checksum': sha1(data)}
    return {'changed': False, 'md5sum': 'x', 'file': '/etc/motd', 'dest': str(path), 'checksum': sha1(data)}


def test_a_kept_file_goes_back_where_this_checkout_puts_it_and_reports_changed(tmp_path):
    old, new = tmp_path / 'old', tmp_path / 'new'
    stored = fetched(old / 'fetched' / 'web' / 'etc' / 'motd', b'hello\n')
    fetched_files.keep_fetched(stored, False, ['/etc/motd'], str(old))
    assert stored['_strata_fetched']['dest'] == '{{ playbook_dir }}/fetched/web/etc/motd'

    replayed = fetched_files.put_back(dict(stored), False, str(new))
    written = new / 'fetched' / 'web' / 'etc' / 'motd'
    assert written.read_bytes() == b'hello\n'
    assert '_strata_fetched' not in replayed
    assert replayed['changed'] is True and replayed['dest'] == str(written)
    assert replayed['checksum'] == replayed['remote_checksum'] == sha1(b'hello\n')
    assert 'file' not in replayed


def test_an_identical_copy_on_the_controller_is_ok_as_stock_reports_it(tmp_path):
    dest = tmp_path / 'out'
    stored = fetched_files.keep_fetched(fetched(dest, b'v1', changed=True), False, ['/etc/motd'], str(tmp_path))
    replayed = fetched_files.put_back(stored, False, str(tmp_path))
    assert replayed['changed'] is False
    assert replayed['file'] == '/etc/motd'
    assert 'remote_checksum' not in replayed


def test_a_different_copy_is_overwritten_and_changed(tmp_path):
    dest = tmp_path / 'out'
    stored = fetched_files.keep_fetched(fetched(dest, b'v1', changed=False), False, ['/etc/motd'], str(tmp_path))
    dest.write_bytes(b'edited by hand')
    replayed = fetched_files.put_back(stored, False, str(tmp_path))
    assert dest.read_bytes() == b'v1'
    assert replayed['changed'] is True


def test_each_loop_item_keeps_its_file_and_the_loop_is_changed_when_one_is(tmp_path):
    one, two = tmp_path / 'a', tmp_path / 'b'
    stored = {'changed': True, 'results': [fetched(one, b'1', changed=False), {'skipped': True, 'changed': False},
                                           fetched(two, b'2')]}
    fetched_files.keep_fetched(stored, True, ['/a', '/b'], str(tmp_path))
    assert stored['results'][2]['_strata_fetched']['file'] == '/b'
    two.unlink()
    replayed = fetched_files.put_back(stored, True, str(tmp_path))
    assert [r['changed'] for r in replayed['results']] == [False, False, True]
    assert replayed['changed'] is True
    assert two.read_bytes() == b'2'


def test_a_run_that_brought_no_file_is_replayed_as_it_was(tmp_path):
    missing = {'changed': False, 'file': '/nope', 'msg': 'the remote file does not exist, not transferring, ignored'}
    stored = fetched_files.keep_fetched(dict(missing), False, ['/nope'], str(tmp_path))
    assert fetched_files.put_back(stored, False, str(tmp_path)) == missing


def test_a_file_that_changed_after_the_fetch_is_not_kept(tmp_path):
    dest = tmp_path / 'out'
    stored = fetched(dest, b'fetched')
    dest.write_bytes(b'overwritten by another host')
    with pytest.raises(fetched_files.NotKept, match='changed after'):
        fetched_files.keep_fetched(stored, False, ['/etc/motd'], str(tmp_path))


def test_sources_follow_the_runs_that_ran():
    assert fetched_files.sources({'args': {'src': '/etc/motd'}}) == ['/etc/motd']
    inputs = {'items': [{'args': {'src': '/a'}}, {'item': 3, 'skipped': True}, {'args': {'src': '/b'}}]}
    assert fetched_files.sources(inputs) == ['/a', '/b']
